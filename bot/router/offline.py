"""The offline router: TF-IDF over the manifests' requests, nudged by what is attached and whether
a URL is given, then arguments by extraction and the same typed models as `!x`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.commands.parse import UsageError, parse
from bot.router.extract import URL, FileInfo, extract, prop_of
from bot.router.index import Index
from bot.router.readings import Decision, Reading, Routable, command_line, validate
from bot.router.text import fold

_OPTION = re.compile(r"(?:^|\s)[a-z_]+=\S")


@dataclass(frozen=True)
class Thresholds:
    """Tuned on the development half of bench/data/routing.jsonl (never on the held-out half)."""

    run: float = 0.30  # the best reading's score needed to start a job at once
    margin: float = 0.08  # ... and its lead over the second
    choose: float = 0.17  # below this nothing matches: the capability list
    window: float = 0.12  # readings this close to the best are offered as buttons
    file_match: float = 0.12  # an attachment of a kind the command reads
    file_mismatch: float = 0.25  # an attachment it cannot read (or a command that reads none)
    file_missing: float = 0.05  # a command that needs a file, none attached
    url_match: float = 0.12
    url_mismatch: float = 0.10


class OfflineRouter:
    name = "offline"

    def __init__(self, commands: Sequence[Routable], thresholds: Thresholds | None = None) -> None:
        self.commands = {c.spec.command: c for c in commands}
        self.t = thresholds or Thresholds()
        self.index = Index(
            {name: [*c.spec.requests, c.spec.summary, _name_words(name)] for name, c in self.commands.items()}
        )

    def route(self, text: str, files: Sequence[FileInfo] = (), prefix: str = "!") -> Decision:
        explicit = self.explicit(text, list(files), prefix)
        if explicit is not None:
            return Decision("run" if explicit.problem is None else "need", [explicit])
        scores = self._scores(text, files)
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        if not ranked or ranked[0][1] < self.t.choose:
            return Decision("none")
        best = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # The best three are read in full: offered as buttons when unsure, and kept as the other
        # readings behind "Not what I meant" when a job starts at once.
        readings = [
            self._reading(name, score, text, files, prefix)
            for name, score in ranked[:3]
            if score >= self.t.choose
        ]
        top = readings[0]
        if best >= self.t.run and best - second >= self.t.margin:
            return Decision("run" if top.problem is None else "need", readings)
        runnable = [r for r in readings if r.problem is None and r.score >= best - self.t.window]
        if runnable:
            return Decision("choose", runnable)
        # Nothing offered could run as it is: name what is missing only when fairly sure of the
        # command; a weak guess that also lacks its input is no match.
        return Decision("need", readings[:1]) if best >= self.t.run else Decision("none")

    def _scores(self, text: str, files: Sequence[FileInfo]) -> dict[str, float]:
        scores = self.index.scores(URL.sub(" ", text))
        has_url = URL.search(text) is not None
        for name, c in self.commands.items():
            spec, t = c.spec, self.t
            if files:
                if spec.takes_files and any(f.content_type.startswith(spec.file_kinds) for f in files):
                    scores[name] += t.file_match
                else:
                    scores[name] -= t.file_mismatch
            elif spec.needs_file:
                scores[name] -= t.file_missing
            takes_url = any(
                prop_of(c.schema, k).get("format") == "uri" for k in (c.schema.get("properties") or {})
            )
            if has_url:
                scores[name] += t.url_match if takes_url else -t.url_mismatch
            elif takes_url:
                scores[name] -= t.url_mismatch
        return scores

    def _reading(self, name: str, score: float, text: str, files: Sequence[FileInfo], prefix: str) -> Reading:
        c = self.commands[name]
        # "tts hello": the command's own name opens a request too.
        templates = (*c.spec.requests, *(f"{name} {{{k}}}" for k in c.spec.positional))
        raw = extract(c.schema, c.spec.positional, templates, text, files)
        args, problem = validate(c.spec, raw, list(files))
        if args is None:
            # What was extracted does not fit: keep what does (the defaults fill the rest) so the
            # reading is still offered, with the problem named.
            kept = {k: v for k, v in raw.items() if validate(c.spec, {k: v}, list(files))[0] is not None}
            args, problem2 = validate(c.spec, kept, list(files))
            if args is None:
                return Reading(name, raw, score, f"{prefix}{name}", problem or problem2)
        return Reading(name, args.model_dump(mode="json"), score, command_line(c.spec, args, prefix), problem)

    def explicit(self, text: str, files: list[FileInfo], prefix: str) -> Reading | None:
        """ "@bot chart bar x=month" is the command itself: used as typed when it parses."""
        m = re.match(r"^\s*(" + re.escape(prefix) + r")?([a-z][a-z0-9_-]*)(?:\s+(.*))?$", text, re.S)
        if m is None or m.group(2) not in self.commands:
            return None
        if m.group(1) is None and not _OPTION.search(m.group(3) or ""):
            # "generate 4 images of a robot" is a sentence that starts with a command's name:
            # without the prefix or an option, the words are routed like any other request.
            return None
        spec = self.commands[m.group(2)].spec
        try:
            parsed = parse(spec.command, m.group(3) or "", [], specs={spec.command: spec}, check_files=False)
        except UsageError:
            return None
        args, problem = validate(spec, parsed.args.model_dump(exclude_unset=True), files)
        if args is None or not self._columns_known(spec.command, args.model_dump(), files):
            return None
        return Reading(
            spec.command, args.model_dump(mode="json"), 1.0, command_line(spec, args, prefix), problem
        )

    def _columns_known(self, command: str, args: dict[str, object], files: list[FileInfo]) -> bool:
        """ "predict future sales" is a sentence, not `!predict` of a column named "future sales":
        a column argument must name a column of the attached table."""
        header = next((f.columns for f in files if f.columns), None)
        schema = self.commands[command].schema
        for key in schema.get("properties") or {}:
            if prop_of(schema, key).get("x-kind") not in ("column", "x-column") or not args.get(key):
                continue
            value = args[key]
            named = value if isinstance(value, list) else [value]
            if header is None or any(str(v) not in header for v in named):
                return False
        return True


def _name_words(name: str) -> str:
    return fold(name).replace("-", " ")
