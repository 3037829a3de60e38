// One job: what it is, how it is going, its files, and - once downloaded - the player with
// the transcript beside it (click a cue to jump there; the cue being spoken is highlighted).
// Playlists, channels and batches list their entries instead. Every title, description and
// cue text is attacker-controlled: it only ever goes into the page as text (dom.js h()).

import { del, get, post } from "../api.js";
import { h, highlighted, replace, toast } from "../dom.js";
import { bytes, clock, percent, when } from "../format.js";
import { PAST_DOWNLOAD } from "../live.js";

const TERMINAL = new Set(["completed", "failed", "canceled", "expired"]);
// Without the event stream (no EventSource, or it was refused), the job is re-read this often.
const POLL_MS = 2000;
// A playlist's stream carries every entry's events: its entry list is re-read at most this often.
const ENTRIES_REFRESH_MS = 1000;
// Fields of a stream event that describe the job itself (README, Progress streams).
const EVENT_FIELDS = [
  "status",
  "stage",
  "progress",
  "downloaded_bytes",
  "total_bytes",
  "speed",
  "eta",
  "error",
];
const ENTRIES_PAGE = 50;
// After the user scrolls the transcript, leave it where they put it for this long.
const MANUAL_SCROLL_MS = 5000;
const PLAYABLE_VIDEO = new Set(["mp4", "webm", "m4v", "mov"]);
const PLAYABLE_AUDIO = new Set(["m4a", "mp3", "opus", "ogg", "webm", "wav", "flac", "aac"]);
const TRANSCRIPT_DOWNLOADS = [
  ["txt", "TXT"],
  ["srt", "SRT"],
  ["vtt", "VTT"],
  ["md", "Markdown"],
];

export async function render(root, ctx) {
  const page = new JobPage(root, ctx);
  await page.start();
  return () => page.stop();
}

class JobPage {
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.jobId = ctx.params.jobId;
    this.api = `/api/v1/downloads/${this.jobId}`;
    this.job = null;
    this.timer = null;
    this.mediaShown = false;
    this.entriesOffset = 0;
    this.heading = h("h1", { class: "job-title" }, "Job");
    this.summary = h("section", { class: "card job-summary", "aria-labelledby": "job-summary-h" });
    this.media = h("section", { class: "job-media", hidden: true, "aria-label": "Player and transcript" });
    this.files = h("section", { class: "card job-files", hidden: true, "aria-labelledby": "job-files-h" });
    this.entries = h("section", {
      class: "card job-entries",
      hidden: true,
      "aria-labelledby": "job-entries-h",
    });
    // Status changes are announced here: the summary itself is rebuilt at every refresh.
    this.announcer = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  }

  async start() {
    // The player first: on a phone it is what the page is opened for.
    replace(this.root, this.heading, this.announcer, this.media, this.summary, this.files, this.entries);
    let job;
    try {
      job = await get(this.api, { signal: this.ctx.signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      replace(
        this.root,
        h("h1", {}, error.status === 404 ? "Job not found" : "Job"),
        h("p", { class: "error", role: "alert" }, error.message),
        h("p", {}, h("a", { href: "/" }, "Back to the queue")),
      );
      return;
    }
    await this.show(job);
  }

  stop() {
    clearTimeout(this.timer);
    clearTimeout(this.entriesTimer);
    this.timer = null;
    this.closeStream();
    if (this.transcript) this.transcript.stop();
  }

  async show(job) {
    if (this.job && this.job.status !== job.status) replace(this.announcer, `Status: ${job.status}`);
    this.job = job;
    const title = jobTitle(job);
    replace(this.heading, title);
    this.ctx.setTitle(title);
    keepFocus(this.summary, () => this.showSummary(job));
    keepFocus(this.files, () => this.showFiles(job));
    if (job.kind !== "video") await this.showEntries();
    if (!this.mediaShown && job.kind === "video" && job.status === "completed") {
      this.mediaShown = true;
      await this.showMedia(job);
    }
    this.schedule();
  }

  /** Follow an unfinished job: its event stream when the browser can, else re-reading it. */
  schedule() {
    clearTimeout(this.timer);
    if (this.ctx.signal.aborted || TERMINAL.has(this.job.status)) {
      this.closeStream();
      return;
    }
    if (this.stream) return;
    if (!this.streamFailed && typeof EventSource === "function") {
      this.openStream();
      return;
    }
    this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  openStream() {
    // Server-sent events: the cookie authenticates them, and EventSource reconnects by
    // itself with Last-Event-ID after a drop (the server replays what was missed).
    const stream = new EventSource(`${this.api}/events`);
    this.stream = stream;
    stream.addEventListener("message", (event) => this.onEvent(event));
    stream.addEventListener("error", () => {
      if (stream.readyState !== EventSource.CLOSED || this.stream !== stream) return;
      this.stream = null;
      this.streamFailed = true; // refused or gone: re-read the job instead
      if (!this.ctx.signal.aborted) this.refresh();
    });
  }

  closeStream() {
    if (this.stream) this.stream.close();
    this.stream = null;
  }

  onEvent(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type === "snapshot") {
      this.show(message.job).catch(() => {});
      return;
    }
    if (message.job_id !== this.jobId) {
      this.refreshEntriesSoon(); // an entry's event, on its parent's stream
      return;
    }
    if (message.type === "aggregate") {
      if (message.children) this.job = { ...this.job, children: message.children };
      keepFocus(this.summary, () => this.showSummary(this.job));
      this.refreshEntriesSoon();
      return;
    }
    if (message.type !== "progress" || message.status !== this.job.status) {
      // A stage or status change: the job's metadata and files may have changed too.
      if (TERMINAL.has(message.status)) this.closeStream();
      this.refresh();
      return;
    }
    const job = { ...this.job };
    for (const name of EVENT_FIELDS) if (name in message) job[name] = message[name];
    this.job = job;
    keepFocus(this.summary, () => this.showSummary(job));
  }

  refreshEntriesSoon() {
    if (this.entriesTimer || this.job.kind === "video") return;
    this.entriesTimer = setTimeout(async () => {
      try {
        await this.showEntries();
      } catch {
        /* left: the page is gone */
      } finally {
        this.entriesTimer = null;
      }
    }, ENTRIES_REFRESH_MS);
  }

  async refresh() {
    this.reads = (this.reads || 0) + 1;
    const ticket = this.reads;
    try {
      const job = await get(this.api, { signal: this.ctx.signal });
      if (ticket === this.reads) await this.show(job); // else a later read is on its way
    } catch (error) {
      if (error.name === "AbortError" || this.ctx.signal.aborted) return;
      if (error.status === 404) {
        replace(this.summary, h("p", { class: "error", role: "alert" }, error.message));
        return;
      }
      if (!this.stream) this.timer = setTimeout(() => this.refresh(), POLL_MS); // a blip: retry
    }
  }

  // -- summary -------------------------------------------------------------------------

  showSummary(job) {
    const meta = job.metadata || {};
    const rows = [
      ["Status", statusLine(job)],
      job.kind !== "video" ? ["Kind", job.kind] : null,
      meta.channel_name ? ["Channel", meta.channel_name] : null,
      meta.duration ? ["Duration", clock(meta.duration)] : null,
      meta.upload_date ? ["Uploaded", uploadDate(meta.upload_date)] : null,
      [
        "URL",
        h("a", { href: job.url, rel: "noopener noreferrer", target: "_blank", class: "job-url" }, job.url),
      ],
      job.children ? ["Entries", childCounts(job.children)] : null,
      ["Created", when(job.created_at)],
      job.completed_at ? ["Finished", when(job.completed_at)] : null,
    ].filter(Boolean);
    replace(
      this.summary,
      h("h2", { id: "job-summary-h", class: "visually-hidden" }, "Summary"),
      job.parent_id
        ? h(
            "p",
            { class: "job-parent" },
            h("a", { href: `/jobs/${job.parent_id}` }, "Part of a collection"),
            job.position ? ` (entry ${job.position})` : "",
          )
        : null,
      h(
        "dl",
        { class: "job-facts" },
        rows.map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
      ),
      this.progressBar(job),
      job.error
        ? h(
            "div",
            { class: "job-error", role: "alert" },
            h("strong", {}, job.status === "queued" ? "Retrying after: " : "Error: "),
            h("code", {}, job.error.code),
            " ",
            job.error.message,
          )
        : null,
      job.damaged_files
        ? h("p", { class: "error" }, `${job.damaged_files} file(s) are damaged; Retry fetches them again.`)
        : null,
      this.actions(job),
    );
  }

  progressBar(job) {
    if (job.status !== "processing") return null;
    const label = [job.stage, percent(job.progress)].filter(Boolean).join(" · ");
    return h(
      "div",
      { class: "job-progress" },
      h("progress", { max: 100, value: job.progress || 0, "aria-label": "Progress" }),
      h(
        "p",
        { class: "muted" },
        label,
        job.total_bytes ? ` · ${bytes(job.downloaded_bytes)} of ${bytes(job.total_bytes)}` : "",
        job.eta ? ` · ${clock(job.eta)} left` : "",
      ),
    );
  }

  actions(job) {
    const buttons = [];
    const retryable =
      job.status === "failed" ||
      job.status === "canceled" ||
      (job.status === "completed" && (job.damaged_files > 0 || (job.children && job.children.failed > 0)));
    if (retryable) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "button primary",
            dataset: { focusKey: "retry" },
            onclick: () => this.retry(),
          },
          "Retry",
        ),
      );
    }
    const pausable = ["queued", "processing"].includes(job.status) && !job.cancel_requested && !PAST_DOWNLOAD.has(job.stage);
    if (pausable) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "button",
            disabled: job.pause_requested,
            dataset: { focusKey: "pause" },
            onclick: () => this.pause(),
          },
          job.pause_requested ? "Pausing…" : "Pause",
        ),
      );
    }
    if (job.status === "paused") {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "button primary",
            dataset: { focusKey: "resume" },
            onclick: () => this.resume(),
          },
          "Resume",
        ),
      );
    }
    if (!TERMINAL.has(job.status)) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "button danger",
            disabled: job.cancel_requested,
            dataset: { focusKey: "cancel" },
            onclick: () => this.cancel(),
          },
          job.cancel_requested ? "Canceling…" : "Cancel",
        ),
      );
    } else {
      const confirmBox = h(
        "div",
        { class: "job-confirm", hidden: true, role: "group", "aria-label": "Confirm deletion" },
        h("span", {}, "Delete this job and its files?"),
        h(
          "button",
          { type: "button", class: "button danger small", onclick: () => this.remove() },
          "Delete for good",
        ),
        h(
          "button",
          {
            type: "button",
            class: "button subtle small",
            onclick: () => {
              confirmBox.hidden = true;
              ask.hidden = false;
              ask.focus();
            },
          },
          "Keep",
        ),
      );
      const ask = h(
        "button",
        {
          type: "button",
          class: "button danger",
          onclick: () => {
            ask.hidden = true;
            confirmBox.hidden = false;
            confirmBox.querySelector("button").focus();
          },
        },
        "Delete",
      );
      buttons.push(ask, confirmBox);
    }
    return h("div", { class: "actions" }, buttons);
  }

  async retry() {
    try {
      this.mediaShown = false;
      replace(this.media);
      this.media.hidden = true;
      await this.show(await post(`${this.api}/retry`, undefined, { signal: this.ctx.signal }));
      toast("Retrying.", "ok");
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
    }
  }

  async pause() {
    try {
      const job = await post(`${this.api}/pause`, undefined, { signal: this.ctx.signal });
      await this.show(job);
      toast(job.status === "paused" ? "Paused." : "Pause requested.", "ok");
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
    }
  }

  async resume() {
    try {
      await this.show(await post(`${this.api}/resume`, undefined, { signal: this.ctx.signal }));
      toast("Resumed.", "ok");
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
    }
  }

  async cancel() {
    try {
      const job = await del(this.api, { signal: this.ctx.signal });
      if (job) await this.show(job);
      toast("Cancel requested.", "ok");
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
    }
  }

  async remove() {
    try {
      await del(this.api, { signal: this.ctx.signal });
      toast("Deleted.", "ok");
      this.ctx.navigate("/", { replaceState: true });
    } catch (error) {
      if (error.name !== "AbortError") toast(error.message, "error");
    }
  }

  // -- files ---------------------------------------------------------------------------

  showFiles(job) {
    this.files.hidden = !job.files.length;
    if (!job.files.length) return;
    const title = jobTitle(job);
    replace(
      this.files,
      h("h2", { id: "job-files-h" }, "Files"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "files-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Name"),
              h("th", { scope: "col" }, "Kind"),
              h("th", { scope: "col" }, "Size"),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Download")),
            ),
          ),
          h(
            "tbody",
            {},
            job.files.map((file) =>
              h(
                "tr",
                {},
                h("td", { class: "file-name" }, fileName(title, file)),
                h(
                  "td",
                  {},
                  file.kind,
                  file.state && file.state !== "ok" ? h("span", { class: "badge bad" }, file.state) : null,
                ),
                h("td", { class: "file-size" }, bytes(file.size)),
                h(
                  "td",
                  {},
                  file.state && file.state !== "ok"
                    ? h("span", { class: "muted" }, "Damaged")
                    : h(
                        "a",
                        {
                          href: file.url,
                          download: fileName(title, file),
                          class: "button small",
                          dataset: { focusKey: file.id },
                          "aria-label": `Download ${fileName(title, file)}`,
                        },
                        "Download",
                      ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // -- player and transcript ------------------------------------------------------------

  async showMedia(job) {
    const file = mediaFile(job);
    const thumbnail = job.files.find((f) => f.kind === "thumbnail" && f.state === "ok");
    let player = null;
    if (file) {
      const tag = file.kind === "video" ? "video" : "audio";
      player = h(tag, {
        class: `player ${tag}`,
        controls: true,
        preload: "metadata",
        src: file.url,
        poster: tag === "video" && thumbnail ? thumbnail.url : null,
        "aria-label": `Play ${jobTitle(job)}`,
      });
      const startAt = Number(this.ctx.query.get("t"));
      if (startAt > 0) {
        player.addEventListener("loadedmetadata", () => (player.currentTime = startAt), { once: true });
      }
    }
    const languages = (job.transcripts && job.transcripts.languages) || [];
    const hasTranscript = job.files.some((f) => f.kind === "subtitle");
    if (!player && !hasTranscript) return;
    this.media.hidden = false;
    const side = h("div", { class: "transcript-pane card" });
    replace(
      this.media,
      h(
        "div",
        { class: "player-pane" },
        player ||
          h("p", { class: "muted card" }, "No playable media was kept for this job (transcript only)."),
      ),
      side,
    );
    if (hasTranscript) {
      this.transcript = new Transcript(side, {
        api: this.api,
        job,
        languages,
        player,
        ctx: this.ctx,
      });
      await this.transcript.start();
    } else {
      replace(side, h("h2", {}, "Transcript"), h("p", { class: "muted" }, "This job has no transcript."));
    }
  }

  // -- entries of a playlist, channel or batch -------------------------------------------

  async showEntries() {
    let page;
    try {
      page = await get("/api/v1/downloads", {
        query: { parent_id: this.jobId, limit: ENTRIES_PAGE, offset: this.entriesOffset },
        signal: this.ctx.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      this.entries.hidden = false;
      replace(
        this.entries,
        h("h2", { id: "job-entries-h" }, "Entries"),
        h("p", { class: "error", role: "alert" }, error.message),
      );
      return;
    }
    this.entries.hidden = false;
    keepFocus(this.entries, () => this.showEntryPage(page));
  }

  showEntryPage(page) {
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.items.length;
    replace(
      this.entries,
      h("h2", { id: "job-entries-h" }, "Entries"),
      page.total
        ? h("p", { class: "muted" }, `${first}–${last} of ${page.total}`)
        : h("p", { class: "muted" }, TERMINAL.has(this.job.status) ? "No entries." : "Looking for entries…"),
      h(
        "ol",
        { class: "entries" },
        page.items.map((entry) =>
          h(
            "li",
            { class: "entry" },
            h("span", { class: "entry-position" }, entry.position ? `${entry.position}.` : ""),
            h(
              "a",
              { href: `/jobs/${entry.job_id}`, class: "entry-title", dataset: { focusKey: entry.job_id } },
              jobTitle(entry),
            ),
            h("span", { class: `badge ${entry.status}` }, entry.status),
            entry.status === "processing" ? h("span", { class: "muted" }, percent(entry.progress)) : null,
            entry.error ? h("span", { class: "entry-error error" }, entry.error.message) : null,
          ),
        ),
      ),
      page.total > ENTRIES_PAGE
        ? h(
            "div",
            { class: "actions" },
            h(
              "button",
              {
                type: "button",
                class: "button small",
                disabled: page.offset === 0,
                dataset: { focusKey: "previous" },
                onclick: () => this.entriesPage(-ENTRIES_PAGE),
              },
              "Previous",
            ),
            h(
              "button",
              {
                type: "button",
                class: "button small",
                disabled: last >= page.total,
                dataset: { focusKey: "next" },
                onclick: () => this.entriesPage(ENTRIES_PAGE),
              },
              "Next",
            ),
          )
        : null,
    );
  }

  async entriesPage(step) {
    this.entriesOffset = Math.max(0, this.entriesOffset + step);
    await this.showEntries();
  }
}

/** The transcript beside the player: cues as buttons, search, downloads, language choice. */
class Transcript {
  constructor(box, { api, job, languages, player, ctx }) {
    this.box = box;
    this.api = api;
    this.job = job;
    this.player = player;
    this.ctx = ctx;
    this.languages = languages.map((l) => l.language);
    const wanted = ctx.query.get("lang");
    this.lang = this.languages.includes(wanted) ? wanted : this.languages[0] || null;
    this.cues = [];
    this.items = [];
    this.current = -1;
    this.lastManualScroll = 0;
    this.list = h("ol", { class: "cues", "aria-label": "Transcript cues" });
    const markScrolled = () => (this.lastManualScroll = Date.now());
    this.scroller = h(
      "div",
      { class: "cue-scroller", onwheel: markScrolled, ontouchmove: markScrolled },
      this.list,
    );
    this.count = h("p", { class: "cue-count muted", role: "status", "aria-live": "polite" });
    this.search = h("input", {
      type: "search",
      id: "transcript-search",
      class: "transcript-search",
      autocomplete: "off",
      oninput: () => this.filter(),
    });
    this.downloads = h("div", { class: "transcript-downloads" });
    this.onTime = () => this.follow();
  }

  async start() {
    const select =
      this.languages.length > 1
        ? h(
            "div",
            { class: "transcript-language" },
            h("label", { for: "transcript-lang" }, "Language"),
            h(
              "select",
              { id: "transcript-lang", onchange: (event) => this.load(event.target.value) },
              this.languages.map((code) => h("option", { value: code, selected: code === this.lang }, code)),
            ),
          )
        : null;
    replace(
      this.box,
      h("h2", {}, "Transcript"),
      select,
      h("label", { for: "transcript-search" }, "Search the transcript"),
      this.search,
      this.count,
      this.scroller,
      this.downloads,
    );
    if (this.player) this.player.addEventListener("timeupdate", this.onTime);
    await this.load(this.lang);
  }

  stop() {
    if (this.player) this.player.removeEventListener("timeupdate", this.onTime);
  }

  async load(lang) {
    this.lang = lang;
    replace(this.list, h("li", { class: "muted" }, "Loading the transcript…"));
    try {
      this.cues = await get(`${this.api}/transcript`, {
        query: { format: "json", lang },
        signal: this.ctx.signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      this.cues = [];
      replace(this.list, h("li", { class: "error", role: "alert" }, error.message));
      replace(this.downloads);
      return;
    }
    this.current = -1;
    this.items = this.cues.map((cue, index) =>
      h(
        "li",
        { class: "cue-item" },
        h(
          "button",
          {
            type: "button",
            class: "cue",
            dataset: { index, start: cue.start },
            onclick: () => this.seek(index),
          },
          h("span", { class: "cue-time" }, clock(cue.start)),
          h("span", { class: "cue-text" }, cue.text),
        ),
      ),
    );
    replace(
      this.list,
      this.items.length ? this.items : h("li", { class: "muted" }, "The transcript is empty."),
    );
    this.showDownloads();
    this.filter();
    const startAt = Number(this.ctx.query.get("t"));
    if (startAt > 0) this.highlight(this.cueAt(startAt + 0.01), { scroll: true });
    else this.follow();
  }

  showDownloads() {
    const base = baseName(jobTitle(this.job));
    const lang = this.lang ? `.${this.lang}` : "";
    replace(
      this.downloads,
      h("span", { class: "muted" }, "Download: "),
      TRANSCRIPT_DOWNLOADS.map(([format, label]) => {
        const query = new URLSearchParams({ format });
        if (this.lang) query.set("lang", this.lang);
        return h(
          "a",
          {
            href: `${this.api}/transcript?${query}`,
            download: `${base}${lang}.${format}`,
            class: "button small",
            "aria-label": `Download the transcript as ${label}`,
          },
          label,
        );
      }),
    );
  }

  seek(index) {
    const cue = this.cues[index];
    if (!cue) return;
    this.highlight(index, { scroll: false });
    if (!this.player) return;
    this.player.currentTime = cue.start;
    const playing = this.player.play();
    if (playing) playing.catch(() => {}); // autoplay refused: the user presses play
  }

  /** The cue being spoken at `seconds` (the latest one started, while it lasts), or -1. */
  cueAt(seconds) {
    let found = -1;
    for (let i = 0; i < this.cues.length && this.cues[i].start <= seconds; i += 1) {
      if (seconds < this.cues[i].end) found = i;
    }
    return found;
  }

  follow() {
    if (!this.player) return;
    const index = this.cueAt(this.player.currentTime);
    if (index !== this.current) this.highlight(index, { scroll: !this.player.paused });
  }

  highlight(index, { scroll }) {
    const previous = this.items[this.current];
    if (previous) {
      previous.classList.remove("current");
      previous.firstChild.removeAttribute("aria-current");
    }
    this.current = index;
    const item = this.items[index];
    if (!item) return;
    item.classList.add("current");
    item.firstChild.setAttribute("aria-current", "true");
    if (scroll && Date.now() - this.lastManualScroll > MANUAL_SCROLL_MS) this.reveal(item);
  }

  /** Scroll the cue list (never the page, never the focus) to show `item`. */
  reveal(item) {
    const box = this.scroller;
    if (box.scrollHeight <= box.clientHeight) return;
    const top = item.offsetTop - box.offsetTop;
    if (top >= box.scrollTop && top + item.offsetHeight <= box.scrollTop + box.clientHeight) return;
    box.scrollTo({ top: Math.max(0, top - box.clientHeight / 3), behavior: "smooth" });
  }

  filter() {
    const terms = this.search.value.trim().toLowerCase().split(/\s+/u).filter(Boolean);
    let matching = 0;
    this.cues.forEach((cue, index) => {
      const item = this.items[index];
      const text = item.querySelector(".cue-text");
      const lower = cue.text.toLowerCase();
      const matches = terms.every((term) => lower.includes(term));
      item.hidden = !matches;
      if (matches) matching += 1;
      replace(text, terms.length && matches ? highlighted(cue.text, terms) : cue.text);
    });
    if (!terms.length) replace(this.count, `${this.cues.length} cues`);
    else if (matching === 1) replace(this.count, `1 cue matches “${this.search.value.trim()}”`);
    else replace(this.count, `${matching} cues match “${this.search.value.trim()}”`);
  }
}

// -- helpers -------------------------------------------------------------------------------

function jobTitle(job) {
  const meta = job.metadata || {};
  return meta.title || meta.video_id || job.url;
}

function statusLine(job) {
  const parts = [h("span", { class: `badge ${job.status}` }, job.status)];
  if (job.stage && job.status === "processing") parts.push(" ", job.stage);
  if (job.waiting_reason)
    parts.push(" ", h("span", { class: "muted" }, `(${job.waiting_reason.replaceAll("_", " ")})`));
  if (job.cancel_requested && !TERMINAL.has(job.status))
    parts.push(" ", h("span", { class: "muted" }, "cancel requested"));
  else if (job.pause_requested && job.status === "processing")
    parts.push(" ", h("span", { class: "muted" }, "pause requested"));
  return h("span", { class: "job-status" }, parts);
}

/** Rebuild part of the page without losing the keyboard focus inside it (by data-focus-key). */
function keepFocus(container, rebuild) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  rebuild();
  if (key === undefined) return;
  const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
  if (again && !again.disabled) again.focus();
}

function childCounts(counts) {
  const parts = ["completed", "processing", "queued", "paused", "failed", "canceled", "skipped"]
    .filter((name) => counts[name])
    .map((name) => `${counts[name]} ${name}`);
  return `${counts.total} (${parts.join(", ") || "none yet"})`;
}

function uploadDate(value) {
  const text = String(value);
  return /^\d{8}$/u.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
}

function baseName(title) {
  // What a file system takes, as the API names its own downloads.
  const cleaned = String(title).replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/gu, " ");
  return (
    cleaned
      .split(/\s+/u)
      .join(" ")
      .replace(/^[ .]+|[ .]+$/gu, "")
      .slice(0, 150) || "download"
  );
}

function fileName(title, file) {
  const language = file.language ? `.${file.language}` : "";
  const extension = file.format === "json" ? ".info.json" : `.${file.format}`;
  return `${baseName(title)}${language}${extension}`;
}

function mediaFile(job) {
  const ok = job.files.filter((f) => f.state === "ok" || !f.state);
  return (
    ok.find((f) => f.kind === "video" && PLAYABLE_VIDEO.has(f.format)) ||
    ok.find((f) => f.kind === "audio" && PLAYABLE_AUDIO.has(f.format)) ||
    null
  );
}
