"""Build the real-audio development corpora from recorded audio in Debian packages: one folder
of 16 kHz mono wav chunks per source, cut by the project's own chunk_audio.py. Prints each
corpus's duration and licence.

    python bench/corpora.py [--out /work/corpora] [--minutes 5] [--chunk_length 2000] [--only music speech]

Run as root, it installs the packages it needs with apt-get; otherwise it names the command.
Nothing it writes belongs in the repository: the default folder is outside it.

Sources (each capped at --minutes, the same fixed selection on every run):

- music: the orchestral soundtrack of Wesnoth (wesnoth-1.16-music, Ogg Vorbis), an equal
  excerpt from the middle of every track;
- instruments: Sonic Pi's recorded instruments, loops and hits (sonic-pi-samples, FLAC);
- drums: Hydrogen's recorded drum kits (hydrogen-drumkits, wav/FLAC/AIFF), one hit after another;
- speech: festival's kal diphone voice (festvox-kallpc16k, recorded diphones of a US English
  speaker) reading bench/speech.txt, a text written for this benchmark.

Every source file, in sorted order, gives at most L seconds, L the largest length that keeps
the corpus within the cap (so long tracks all get the same excerpt and short hits are whole),
faded out over 10 ms where it is cut. The excerpts are resampled to 16 kHz mono and joined
into one recording, `<out>/<name>/<name>.wav`, which chunk_audio.py cuts into
`<out>/<name>/chunks/`. `<out>/<name>/corpus.json` records the files, excerpts and licences.
"""

import argparse
import collections
import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import librosa
import numpy as np
import soundfile as sf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SAMPLE_RATE = 16000
FADE_SECONDS = 0.01
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
WESNOTH_MUSIC = "/usr/share/games/wesnoth/1.16/data/core/music"
SONIC_PI_SAMPLES = "/usr/share/sonic-pi/samples"
HYDROGEN_KITS = "/usr/share/hydrogen/data/drumkits"
KAL_VOICE = "/usr/share/festival/voices/english/kal_diphone"
SPEECH_TEXT = os.path.join(HERE, "speech.txt")


def doc(package):
    return f"/usr/share/doc/{package}/copyright"


# ----------------------------------------------------------------------------- licences


def dep5_stanzas(path):
    """[(patterns, licence)] of a machine-readable (DEP-5) copyright file, in file order."""
    stanzas = []
    with open(path, encoding="utf-8") as f:
        for block in f.read().split("\n\n"):
            # A field's first line, and its continuation lines (indented) kept apart: Files
            # patterns continue over lines, a License's text follows its name.
            first, more = collections.defaultdict(str), collections.defaultdict(str)
            key = None
            for line in block.splitlines():
                if line[:1].isspace() and key:
                    more[key] += " " + line.strip()
                elif ":" in line:
                    key, _, value = line.partition(":")
                    first[key] = value.strip()
            if first["License"]:
                patterns = (first["Files"] + more["Files"]).split()
                if patterns:
                    stanzas.append((patterns, first["License"]))
    return stanzas


def dep5_licence(stanzas, name):
    """The licence of `name` (a path as the copyright file writes them): the last stanza that matches."""
    found = None
    for patterns, licence in stanzas:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            found = licence
    return found


def sonic_pi_licence(path, stanzas):
    return dep5_licence(stanzas, f"etc/samples/{os.path.basename(path)}")


def hydrogen_licence(path, stanzas):
    """Kits are listed as `drumkits/<kit>.h2drumkit`; the installed folder may add a version ("circAfrique v4")."""
    kit = os.path.basename(os.path.dirname(path))
    for name in (kit, kit.rsplit(" ", 1)[0]):
        licence = dep5_licence(stanzas, f"drumkits/{name}.h2drumkit")
        if licence:
            return licence
    return None


# ----------------------------------------------------------------------------- sources


def wesnoth_files():
    return sorted(glob.glob(os.path.join(WESNOTH_MUSIC, "*.ogg")))


def sonic_pi_files():
    return sorted(glob.glob(os.path.join(SONIC_PI_SAMPLES, "*.flac")))


def hydrogen_files():
    found = []
    for root, _, names in os.walk(HYDROGEN_KITS):
        found += [os.path.join(root, n) for n in names if n.lower().endswith(AUDIO_SUFFIXES)]
    return sorted(found)


def speech_files(workdir):
    """festival reads bench/speech.txt (after its header note) one paragraph per wav."""
    with open(SPEECH_TEXT, encoding="utf-8") as f:
        paragraphs = [p.strip() for p in f.read().split("\n\n")[1:] if p.strip()]
    os.makedirs(workdir, exist_ok=True)
    paths = []
    for i, text in enumerate(paragraphs):
        txt = os.path.join(workdir, f"paragraph_{i:02d}.txt")
        wav = os.path.join(workdir, f"paragraph_{i:02d}.wav")
        with open(txt, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        subprocess.run(["text2wave", "-eval", "(voice_kal_diphone)", txt, "-o", wav], check=True)
        paths.append(wav)
    return paths


SOURCES = {
    "music": dict(
        packages=["wesnoth-1.16-music"],
        check=WESNOTH_MUSIC,
        files=lambda work: wesnoth_files(),
        excerpt="middle",
        licence=lambda paths: {"GPL-2+": len(paths)},
        licence_note="the whole of Wesnoth, music included, is GPL-2+ per " + doc("wesnoth-1.16-music"),
        what="Wesnoth's orchestral soundtrack (produced music, Ogg Vorbis)",
    ),
    "instruments": dict(
        packages=["sonic-pi-samples"],
        check=SONIC_PI_SAMPLES,
        files=lambda work: sonic_pi_files(),
        excerpt="head",
        licence=lambda paths: _count(sonic_pi_licence, paths, dep5_stanzas(doc("sonic-pi-samples"))),
        licence_note="per file, from " + doc("sonic-pi-samples"),
        what="Sonic Pi's recorded instruments, loops and hits (FLAC)",
    ),
    "drums": dict(
        packages=["hydrogen-drumkits"],
        check=HYDROGEN_KITS,
        files=lambda work: hydrogen_files(),
        excerpt="head",
        licence=lambda paths: _count(hydrogen_licence, paths, dep5_stanzas(doc("hydrogen-drumkits"))),
        licence_note="per kit, from " + doc("hydrogen-drumkits"),
        what="Hydrogen's recorded drum kits, every hit of every kit (wav/FLAC/AIFF)",
    ),
    "speech": dict(
        packages=["festival", "festvox-kallpc16k"],
        check=KAL_VOICE,
        files=lambda work: speech_files(os.path.join(work, "festival")),
        excerpt="head",
        licence=lambda paths: {"festival/festvox free licence (Black & Lenzo 1998, CSTR)": len(paths)},
        licence_note="voice: " + doc("festvox-kallpc16k") + "; text: bench/speech.txt, CC0",
        what="festival's kal diphone voice (recorded US English diphones) reading bench/speech.txt",
    ),
}


def _count(licence_of, paths, stanzas):
    return dict(collections.Counter(licence_of(p, stanzas) or "unlisted" for p in paths))


def ensure_packages(names):
    """Install what is missing with apt-get when root; otherwise stop and name the command."""
    missing = [s for s in names if not os.path.exists(SOURCES[s]["check"])]
    packages = sorted({p for s in missing for p in SOURCES[s]["packages"]})
    if not packages:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing packages; as root run: apt-get install --no-install-recommends {' '.join(packages)}")
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


# ----------------------------------------------------------------------------- building


def excerpt_length(durations, cap):
    """The largest L with sum(min(d, L)) <= cap: every file gives min(d, L) seconds."""
    if sum(durations) <= cap:
        return max(durations)
    lo, hi = 0.0, max(durations)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(min(d, mid) for d in durations) <= cap else (lo, mid)
    return lo


def read_excerpt(path, seconds, where):
    """`seconds` of `path` from its start or its middle, as 16 kHz mono float32, faded out if cut."""
    info = sf.info(path)
    frames = min(info.frames, int(round(seconds * info.samplerate)))
    start = (info.frames - frames) // 2 if where == "middle" else 0
    data, rate = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    audio = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    if frames < info.frames:
        fade = min(len(audio), int(FADE_SECONDS * SAMPLE_RATE))
        audio[len(audio) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return audio, start / info.samplerate


def build(name, out, minutes, chunk_length):
    source = SOURCES[name]
    folder = os.path.join(out, name)
    chunks = os.path.join(folder, "chunks")
    work = tempfile.mkdtemp(prefix=f"{name}_", dir=out)
    try:
        paths = source["files"](work)
        durations = [sf.info(p).duration for p in paths]
        length = excerpt_length(durations, minutes * 60.0)
        pieces, listing = [], []
        for path, duration in zip(paths, durations):
            audio, start = read_excerpt(path, min(duration, length), source["excerpt"])
            pieces.append(audio)
            listing.append(dict(file=os.path.basename(path), start=round(start, 3), seconds=len(audio) / SAMPLE_RATE))
        recording = np.concatenate(pieces)
        # Full scale, as the packages' loudness differs by tens of dB and the chunker drops
        # chunks below -60 dBFS.
        recording *= 0.9 / max(float(np.max(np.abs(recording))), 1e-9)
        os.makedirs(folder, exist_ok=True)
        wav = os.path.join(folder, f"{name}.wav")
        sf.write(wav, recording, SAMPLE_RATE, subtype="PCM_16")
        if os.path.isdir(chunks):
            shutil.rmtree(chunks)
        subprocess.run(
            [
                sys.executable,
                os.path.join(REPO, "chunk_audio.py"),
                "--input_file",
                wav,
                "--output_dir",
                chunks,
                "--chunk_length",
                str(chunk_length),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        licences = source["licence"](paths)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    written = sorted(glob.glob(os.path.join(chunks, "*.wav")))
    summary = dict(
        name=name,
        what=source["what"],
        packages=source["packages"],
        source_files=len(paths),
        excerpt_seconds=round(length, 3),
        seconds=len(recording) / SAMPLE_RATE,
        chunks=len(written),
        chunk_seconds=sum(sf.info(p).duration for p in written),
        chunk_length_ms=chunk_length,
        licences=licences,
        licence_note=source["licence_note"],
        files=listing,
    )
    with open(os.path.join(folder, "corpus.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", default="/work/corpora", help="Scratch folder, outside the repository (default: %(default)s)."
    )
    p.add_argument("--minutes", type=float, default=5.0, help="Cap on each corpus, in minutes (default: %(default)s).")
    p.add_argument(
        "--chunk_length", type=int, default=2000, help="Chunk length in ms, for chunk_audio.py (default: %(default)s)."
    )
    p.add_argument("--only", nargs="+", choices=sorted(SOURCES), default=list(SOURCES), help="Corpora to build.")
    args = p.parse_args(argv)
    if os.path.commonpath([os.path.abspath(args.out), REPO]) == REPO:
        sys.exit(f"--out {args.out} is inside the repository; audio must stay out of it")
    os.makedirs(args.out, exist_ok=True)
    ensure_packages(args.only)
    rows = []
    for name in args.only:
        print(f"building {name} ...", flush=True)
        rows.append(build(name, args.out, args.minutes, args.chunk_length))
    print()
    print(f"{'corpus':12} {'files':>5} {'excerpt':>8} {'duration':>9} {'chunks':>6}  licence")
    for r in rows:
        licences = ", ".join(f"{k} ({v} files)" for k, v in sorted(r["licences"].items(), key=lambda kv: -kv[1]))
        print(
            f"{r['name']:12} {r['source_files']:5d} {r['excerpt_seconds']:7.1f}s "
            f"{r['chunk_seconds'] / 60:6.2f} min {r['chunks']:6d}  {licences}; {r['licence_note']}"
        )
    print(f"\ncorpora in {os.path.abspath(args.out)}/<name>/chunks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
