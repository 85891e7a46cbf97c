"""Reads docker/Dockerfile as docker does, so tests check the file itself and build
what it builds instead of keeping a copy of its lines.

Parsing follows the Dockerfile reference: a backslash at the end of a line continues
the instruction, comment lines (also inside a continued instruction) and blank
continuation lines are dropped, keywords are case-insensitive, ARGs before the first
FROM are global and a stage's `ARG NAME` without a value takes the global default.

Command line (used by ./scripts/test):
  dockerfile.py build-script [--file F] [--build-arg K=V]... SRC BUILD
      prints a /bin/sh script: the build stage's ARGs as exports, then the RUN that
      runs cmake, with the image's source and build directories mapped to SRC and
      BUILD. `sh -e` of it is the image's build of parleyd, on this machine.
"""
import os
import re
import shlex
import sys
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")


@dataclass
class Instruction:
    line: int  # 1-based line of the keyword
    keyword: str  # upper case
    args: str  # the rest, continuation lines joined with a space


@dataclass
class Stage:
    base: str
    name: str
    instructions: list = field(default_factory=list)

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, instruction):
        return self.instructions.index(instruction)


@dataclass
class Dockerfile:
    global_args: list  # ARG instructions before the first FROM
    stages: list

    def stage(self, name):
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no stage named {name!r}")

    @property
    def final(self):
        return self.stages[-1]

    def arg_defaults(self, stage, overrides=None):
        """The values the stage's ARGs have in its RUN lines, as docker gives them."""
        overrides = overrides or {}
        glob = {}
        for i in self.global_args:
            name, _, value = i.args.partition("=")
            glob[name.strip()] = value if "=" in i.args else None
        values = {}
        for i in stage.all("ARG"):
            name, eq, value = i.args.partition("=")
            name = name.strip()
            value = value if eq else glob.get(name)
            if name in overrides:
                value = overrides[name]
            if value is not None:
                values[name] = unquote(value)
        return values


def unquote(value):
    words = shlex.split(value)
    return words[0] if len(words) == 1 else value


def parse(path=DOCKERFILE):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    instructions = []
    current, start = None, 0
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (current is not None and not stripped):
            continue
        if current is None and not stripped:
            continue
        body = raw.rstrip()
        continued = body.endswith("\\")
        if continued:
            body = body[:-1]
        if current is None:
            current, start = body.strip(), n
        else:
            current += " " + body.strip()
        if not continued:
            instructions.append(_instruction(start, current))
            current = None
    if current is not None:
        instructions.append(_instruction(start, current))

    global_args, stages = [], []
    for i in instructions:
        if i.keyword == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", i.args, re.IGNORECASE)
            if not m:
                raise ValueError(f"line {i.line}: cannot read FROM {i.args!r}")
            stages.append(Stage(base=m.group(1), name=m.group(2) or str(len(stages))))
        elif stages:
            stages[-1].instructions.append(i)
        elif i.keyword == "ARG":
            global_args.append(i)
        else:
            raise ValueError(f"line {i.line}: {i.keyword} before the first FROM")
    return Dockerfile(global_args, stages)


def _instruction(line, text):
    keyword, _, args = text.partition(" ")
    return Instruction(line, keyword.upper(), re.sub(r"\s+", " ", args.strip()))


def labels(stage):
    """The stage's LABELs as a dict (`LABEL k=v k2="v 2"`)."""
    out = {}
    for i in stage.all("LABEL"):
        for word in shlex.split(i.args):
            k, eq, v = word.partition("=")
            if not eq:
                raise ValueError(f"line {i.line}: LABEL {word!r} has no value")
            out[k] = v
    return out


def commands(run):
    """A RUN line's shell commands, split at && and each split into words. Enough for
    the plain `a && b` lines of this Dockerfile, not for shell in general."""
    return [shlex.split(part) for part in re.split(r"\s*&&\s*", run.args) if part.strip()]


def json_list(instruction):
    """The exec form of ENTRYPOINT/CMD: `["a", "b"]`."""
    import json

    value = json.loads(instruction.args)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"line {instruction.line}: not an exec-form list")
    return value


def directories(stage, upto=None):
    """The directories the stage's RUN lines make (`install -d`, `mkdir`) before the
    instruction `upto`, with the mode and owner their `chown`/`chmod` leave:
    {path: {"mode": int, "owner": str, "group": str, "line": int}}."""
    dirs = {}
    end = stage.index(upto) if upto is not None else len(stage.instructions)
    for run in stage.instructions[:end]:
        if run.keyword != "RUN":
            continue
        for words in commands(run):
            _apply(dirs, words, run.line)
    return dirs


def _options(words, flags, valued):
    """Splits `cmd -x -k v operand...` into ({opt: value or True}, operands)."""
    opts, operands, i = {}, [], 1
    while i < len(words):
        w = words[i]
        if w in valued and i + 1 < len(words):
            opts[w] = words[i + 1]
            i += 2
            continue
        if w in flags:
            opts[w] = True
        elif w.startswith("-"):
            raise ValueError(f"{words[0]}: option {w} not understood here")
        else:
            operands.append(w)
        i += 1
    return opts, operands


def _apply(dirs, words, line):
    cmd = words[0] if words else ""
    if cmd == "install" and "-d" in words:
        opts, paths = _options(words, {"-d"}, {"-m", "-o", "-g"})
        for p in paths:
            dirs[p.rstrip("/")] = {"mode": int(opts.get("-m", "0755"), 8),
                                   "owner": opts.get("-o", "root"),
                                   "group": opts.get("-g", "root"), "line": line}
    elif cmd == "mkdir":
        opts, paths = _options(words, {"-p"}, {"-m"})
        for p in paths:
            dirs[p.rstrip("/")] = {"mode": int(opts.get("-m", "0755"), 8), "owner": "root",
                                   "group": "root", "line": line}
    elif cmd == "chown":
        opts, rest = _options(words, {"-R"}, set())
        owner, _, group = rest[0].partition(":")
        for p in rest[1:]:
            if p.rstrip("/") in dirs:
                d = dirs[p.rstrip("/")]
                d["owner"] = owner
                d["group"] = group or d["group"]
    elif cmd == "chmod":
        opts, rest = _options(words, {"-R"}, set())
        for p in rest[1:]:
            if p.rstrip("/") in dirs and re.fullmatch(r"[0-7]{3,4}", rest[0]):
                dirs[p.rstrip("/")]["mode"] = int(rest[0], 8)


def users(stage):
    """The users the stage's RUN lines add: {name: uid}."""
    out = {}
    for run in stage.all("RUN"):
        for words in commands(run):
            if words and words[0] == "useradd":
                uid = words[words.index("--uid") + 1] if "--uid" in words else None
                out[words[-1]] = int(uid) if uid else None
    return out


def cmake_run(df):
    """The build stage's RUN that configures with cmake, and the stage."""
    stage = df.stage("build")
    runs = [i for i in stage.all("RUN") if re.search(r"\bcmake -S ", i.args)]
    if len(runs) != 1:
        raise ValueError(f"expected one RUN with `cmake -S` in the build stage, found {len(runs)}")
    return stage, runs[0]


def source_dir(stage):
    """Where the build stage copies the repository (`COPY . DIR`)."""
    for i in stage.all("COPY"):
        words = i.args.split()
        if not any(w.startswith("--") for w in words) and words[:1] == ["."]:
            return words[-1].rstrip("/")
    raise ValueError("the build stage copies no `.`")


def build_dir(run):
    m = re.search(r"\bcmake -S \S+ -B (\S+)", run.args)
    if not m:
        raise ValueError(f"line {run.line}: the cmake line names no -B directory")
    return m.group(1)


def map_path(command, image_path, local_path):
    """Replaces the image path where it stands as a whole path (or a prefix of one)."""
    pattern = r"(?<![\w./-])" + re.escape(image_path) + r"(?=[/\s\"']|$)"
    return re.sub(pattern, lambda _: local_path, command)


def build_script(df, src, build, overrides=None):
    stage, run = cmake_run(df)
    command = map_path(run.args, build_dir(run), build)
    command = map_path(command, source_dir(stage), src)
    exports = [
        f"export {k}={shlex.quote(v)}" for k, v in df.arg_defaults(stage, overrides).items()
    ]
    return "\n".join(exports + [command]) + "\n"


def main(argv):
    args = argv[1:]
    path, overrides = DOCKERFILE, {}
    if not args or args[0] != "build-script":
        print(__doc__, file=sys.stderr)
        return 2
    args = args[1:]
    rest = []
    while args:
        a = args.pop(0)
        if a == "--file" and args:
            path = args.pop(0)
        elif a == "--build-arg" and args and "=" in args[0]:
            k, _, v = args.pop(0).partition("=")
            overrides[k] = v
        else:
            rest.append(a)
    if len(rest) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(build_script(parse(path), os.path.abspath(rest[0]), os.path.abspath(rest[1]), overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
