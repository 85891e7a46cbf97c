"""docker/Dockerfile read as docker reads it (tests/scripts/dockerfile.py): what a
machine without a Docker engine can check of the image. The build of its cmake line
is ./scripts/test's build-release part; running its entrypoint is test_image_run.py.
"""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile  # noqa: E402

ROOT = dockerfile.ROOT
DF = dockerfile.parse()
BUILD = DF.stage("build")
FINAL = DF.final
_, CMAKE_RUN = dockerfile.cmake_run(DF)


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def only(stage, keyword):
    found = stage.all(keyword)
    assert len(found) == 1, f"expected one {keyword} in stage {stage.name}, found {len(found)}"
    return found[0]


def apt_packages(stage):
    pkgs = []
    for run in stage.all("RUN"):
        for words in dockerfile.commands(run):
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def deps_packages(name):
    m = re.search(r"^%s=\(([^)]*)\)" % name, read("scripts", "deps"), re.M)
    assert m, f"scripts/deps defines no {name}"
    return m.group(1).split()


def test_parser_reads_continuations_and_comments(tmp_path):
    f = tmp_path / "Dockerfile"
    f.write_text("ARG V=1\n# c\nFROM a AS b\nRUN x \\\n# inside\n\n  && y\nlabel k=\"v w\"\n")
    df = dockerfile.parse(str(f))
    assert [(s.base, s.name) for s in df.stages] == [("a", "b")]
    run = df.stages[0].all("RUN")[0]
    assert run.args == "x && y" and run.line == 4
    assert dockerfile.labels(df.stages[0]) == {"k": "v w"}


def test_data_directory_belongs_to_the_user_before_volume():
    # A new volume starts as a copy of the image's directory, owner included; a path
    # the image lacks becomes root's, and parleyd (not root) cannot write there.
    volume = only(FINAL, "VOLUME")
    user = only(FINAL, "USER").args
    paths = volume.args.strip("[]").replace('"', "").replace(",", " ").split()
    made = dockerfile.directories(FINAL, upto=volume)
    for path in paths:
        assert path in made, f"{path} (VOLUME, line {volume.line}) is not made before it"
        d = made[path]
        assert d["owner"] == user, f"{path} belongs to {d['owner']}, not {user}"
        assert d["mode"] & 0o700 == 0o700, f"{path} mode {d['mode']:o}"
        assert d["line"] < volume.line


def test_runs_as_an_unprivileged_user_with_a_fixed_uid():
    user = only(FINAL, "USER").args
    assert user not in ("root", "0")
    uid = dockerfile.users(FINAL).get(user)
    assert uid is not None and uid >= 1000, f"user {user} uid {uid}"
    assert FINAL.index(only(FINAL, "USER")) < FINAL.index(only(FINAL, "ENTRYPOINT"))


def test_the_working_directory_holds_the_data_directory():
    # parleyd's default data directory is ./data: the volume must be exactly there.
    workdir = only(FINAL, "WORKDIR").args
    volume = only(FINAL, "VOLUME").args
    assert volume == workdir.rstrip("/") + "/data"
    # And the working directory itself is not the user's to write.
    made = dockerfile.directories(FINAL)
    assert made.get(workdir, {}).get("owner") == "root"


def test_release_build_without_tests_and_with_the_version():
    args = CMAKE_RUN.args
    for flag in ("-DCMAKE_BUILD_TYPE=Release", "-DPARLEY_BUILD_TESTS=OFF",
                 '-DPARLEY_VERSION="${PARLEY_VERSION}"', "--target parleyd"):
        assert flag in args, f"line {CMAKE_RUN.line} lacks {flag}"
    assert "PARLEY_VERSION" in DF.arg_defaults(BUILD)


def test_build_stage_installs_what_scripts_deps_builds_with_but_no_test_tool():
    # The server's build packages are the same in both places (a new library added to
    # one only breaks the other), minus what builds the web client.
    image = set(apt_packages(BUILD))
    deps = set(deps_packages("BUILD_PKGS")) - {"esbuild"}
    assert image == deps, (f"only in the Dockerfile's build stage: {sorted(image - deps)}; "
                           f"only in scripts/deps BUILD_PKGS: {sorted(deps - image)}")
    assert not image & set(deps_packages("TEST_PKGS")), "a test package in the build stage"
    assert "libcmocka-dev" not in image


def test_version_argument_defaults_to_the_project_version():
    project = re.search(r"project\(parley VERSION (\S+)", read("CMakeLists.txt")).group(1)
    glob = {i.args.partition("=")[0]: i.args.partition("=")[2] for i in DF.global_args}
    assert glob.get("PARLEY_VERSION") == project
    assert DF.arg_defaults(FINAL).get("PARLEY_VERSION") == project
    assert DF.arg_defaults(BUILD, {"PARLEY_VERSION": "2.0.0"})["PARLEY_VERSION"] == "2.0.0"


def test_oci_labels():
    labels = dockerfile.labels(FINAL)
    for key in ("title", "description", "version", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"no {key} label"
    assert labels["org.opencontainers.image.version"] == "${PARLEY_VERSION}"
    licence = read("LICENSE").split("\n", 1)[0]
    assert licence == f"{labels['org.opencontainers.image.licenses']} License"


def test_entrypoint_is_the_copied_script_beside_parleyd():
    entry = dockerfile.json_list(only(FINAL, "ENTRYPOINT"))
    copies = {i.args.split()[-1]: i.args.split()[-2] for i in FINAL.all("COPY")}
    assert copies.get(entry[0]) == "docker/entrypoint.sh"
    parleyd = os.path.join(os.path.dirname(entry[0]), "parleyd")
    build = dockerfile.build_dir(CMAKE_RUN)
    assert copies.get(parleyd) == f"{build}/parleyd"
    assert any(i.args.startswith("--from=build ") for i in FINAL.all("COPY"))


def test_healthcheck_asks_healthz():
    hc = only(FINAL, "HEALTHCHECK").args
    assert re.search(r"http://127\.0\.0\.1:\$\{PARLEY_PORT:-8080\}/healthz", hc)


@pytest.mark.parametrize("keyword", ["ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "HEALTHCHECK"])
def test_only_the_final_stage_has_runtime_settings(keyword):
    assert BUILD.all(keyword) == []


def test_the_build_context_leaves_out_local_builds_and_secrets():
    patterns = {line.strip() for line in read(".dockerignore").splitlines()
                if line.strip() and not line.startswith("#")}
    for p in ("build*/", "data/", "docker/parley.env", "web/node_modules/", "web/dist/"):
        assert p in patterns, f".dockerignore lacks {p}"
