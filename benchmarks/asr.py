"""Speech recognition quality and speed: word error rate and real-time factor of the
service's recognizer (`app.transcripts.recognition`) with Whisper tiny.en, over several
espeak-ng voices and speaking rates.

Each voice says the same script (three times, about 40 s of speech) at each rate; the audio
is recognised as the transcription worker does it, with the model loaded once. The
real-time factor is recognition time over audio duration (below 1: faster than real time).

    .venv/bin/python -m benchmarks.asr
    .venv/bin/python -m benchmarks.asr --voices en-us en-gb-x-rp --rates 140 200 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from app.transcripts.recognition import Recognizer, RecognizerConfig
from tests.support.speech import SCRIPT, duration_of, speak, tiny_model, word_error_rate

VOICES = ("en-us", "en-gb-x-rp", "en-us+f3", "en-gb-scotland")
RATES = (120, 160, 200, 240)
MORE_TEXT = (
    "The library opens at nine in the morning and closes at six in the evening. "
    "Please bring your card and return the books before the end of the month."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", nargs="+", default=list(VOICES))
    parser.add_argument("--rates", nargs="+", type=int, default=list(RATES))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--compute-type", default="int8")
    args = parser.parse_args()

    script = " ".join([SCRIPT, MORE_TEXT, SCRIPT])
    started = time.perf_counter()
    recognizer = Recognizer(
        RecognizerConfig(
            model=str(tiny_model()),
            compute_type=args.compute_type,
            cpu_threads=args.threads,
            beam_size=args.beam_size,
        )
    )
    load_seconds = time.perf_counter() - started
    print(
        f"Whisper tiny.en, {args.compute_type}, {args.threads} CPU threads, beam "
        f"{args.beam_size}; model loaded in {load_seconds:.2f} s; {len(script.split())} words"
    )
    print(f"| {'voice':<16} | {'wpm':>4} | {'audio s':>7} | {'WER':>6} | {'RTF':>6} |")
    print(f"| {'-' * 16} | {'-' * 4} | {'-' * 7} | {'-' * 6} | {'-' * 6} |")
    errors, factors = [], []
    with tempfile.TemporaryDirectory(prefix="bench-asr-") as tmp:
        for voice in args.voices:
            for rate in args.rates:
                audio = speak(script, Path(tmp) / f"{voice}-{rate}.wav", voice=voice, speed=rate)
                seconds = duration_of(audio)
                began = time.perf_counter()
                result = recognizer.recognize(audio, language="en")
                elapsed = time.perf_counter() - began
                wer = word_error_rate(script, " ".join(cue.text for cue in result.cues))
                errors.append(wer)
                factors.append(elapsed / seconds)
                print(
                    f"| {voice:<16} | {rate:>4} | {seconds:>7.1f} | {wer:>6.3f} | "
                    f"{elapsed / seconds:>6.3f} |",
                    flush=True,
                )
    print(
        f"mean WER {statistics.mean(errors):.3f} (worst {max(errors):.3f}); "
        f"mean RTF {statistics.mean(factors):.3f} (worst {max(factors):.3f})"
    )


if __name__ == "__main__":
    main()
