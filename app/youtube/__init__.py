"""YouTube as it is today: which yt-dlp runs (and its updates), the routes downloads leave
by (proxies, each with its breaker), the cookies an admin uploaded, and the doctor that says
what of it is broken."""
