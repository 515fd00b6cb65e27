"""Every code block of the README, docs/ and the emulator's README runs (or, for shell lines, is checked) here.

- ```python blocks: in the operators guide (docs/operators/), a block marked `<!-- example: FILE REGION -->` must
  equal that region of a runnable example DAG (tests/system/test_examples.py runs them), a whole DAG file is run
  with dag.test() against the emulator, and the trigger's example is run against a seal made for it; every other
  page's are executed;
- ```json blocks: parsed, and a manifest example is planned with the same rules as the DAG;
- shell blocks: `make X` names a Makefile target, `python -m ess_emulator ...` parses with the emulator's own
  options, `export AIRFLOW_CONN_...='{json}'` is a connection the hook accepts.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_DAGS, emulator_state

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text(encoding="utf-8")) if lang == language]


README = ROOT / "README.md"
GUIDE = sorted((ROOT / "docs" / "operators").glob("*.md"))  # the operators guide, one page per family
#: Every page of documentation: what the README links to, and what links to it.
PAGES = [
    README,
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "emulator" / "README.md",
    ROOT / "bench" / "README.md",
    ROOT / "CHANGELOG.md",
]
OTHER_PAGES = [page for page in PAGES if page not in GUIDE]
EXAMPLES = ROOT / "tests" / "system" / "tencent_ess"
INCLUDE = re.compile(r"^<!-- example: (\S+) (\w+) -->\n```python\n(.*?)^```", re.S | re.M)
REGION = re.compile(r"^[ \t]*# \[START (\w+)\]\n(.*?)^[ \t]*# \[END \1\]", re.S | re.M)


def guide_blocks() -> list[str]:
    """The guide's python blocks that are not example regions (checked by `test_guide_examples_are_...`)."""
    found = []
    for page in GUIDE:
        text = INCLUDE.sub("", page.read_text(encoding="utf-8"))
        found += [body for lang, body in FENCE.findall(text) if lang == "python"]
    return found


def shell_lines() -> list[str]:
    """Logical shell lines of every unlabelled or shell block (continuations and open quotes joined)."""
    lines: list[str] = []
    for path in PAGES:
        for language in ("", "bash", "sh", "shell", "console"):
            for body in blocks(path, language):
                pending = ""
                for line in body.replace("\\\n", " ").splitlines():
                    pending = f"{pending} {line.strip()}".strip()
                    try:
                        shlex.split(pending, comments=True)
                    except ValueError:  # a quote still open: the command goes on on the next line
                        continue
                    if pending:
                        lines.append(pending)
                    pending = ""
                assert not pending, f"{path.name}: unterminated shell line {pending!r}"
    return lines


def test_the_docs_have_code_to_check():
    assert blocks(README, "python") and guide_blocks() and shell_lines()
    assert _guide_dags(), "no whole DAG of the guide is found to run (an empty parametrize would skip silently)"
    assert len(GUIDE) >= 4 and all(INCLUDE.search(page.read_text(encoding="utf-8")) for page in GUIDE[1:])
    assert [body for page in PAGES for body in blocks(page, "json")]


@pytest.mark.parametrize("source", [body for page in OTHER_PAGES for body in blocks(page, "python")])
def test_python_blocks_run(source, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", raising=False)
    exec(compile(source, "docs", "exec"), {"__name__": "docs_block"})  # noqa: S102 - our own docs


def test_every_relative_link_of_the_docs_leads_somewhere():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, broken


def test_the_readme_stays_short_and_links_every_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 120
    for page in PAGES[1:]:
        assert str(page.relative_to(ROOT)) in text, f"README does not link {page.relative_to(ROOT)}"


@pytest.mark.parametrize("source", [body for page in PAGES for body in blocks(page, "json")])
def test_json_blocks_parse_and_manifests_plan_cleanly(source):
    data = json.loads(source)
    if isinstance(data, list) and data and "seal_name" in data[0]:
        from tencent_ess.onboarding.manifest import plan_tenants

        planned, rejected = plan_tenants(data)
        assert rejected == [] and len(planned) == len(data)


def test_shell_lines_name_real_targets_options_and_connections():
    from ess_emulator.__main__ import parser
    from tencent_ess.hooks import settings_from_connection

    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    checked = 0
    for line in shell_lines():
        words = [word for word in shlex.split(line, comments=True) if word != "&"]  # `&`: run in the background
        if not words:
            continue
        if words[0] == "make":
            assert set(words[1:]) <= targets, line
            checked += 1
        elif words[:3] == ["python", "-m", "ess_emulator"]:
            parser().parse_args(words[3:])
            checked += 1
        elif (words[0] == "export" and words[1].startswith("AIRFLOW_CONN_")) or words[1:3] == ["connections", "add"]:
            from airflow.sdk import Connection

            raw = words[words.index("--conn-json") + 1] if "--conn-json" in words else words[1].split("=", 1)[1]
            value = json.loads(raw)
            conn = Connection(
                conn_id="docs",
                conn_type=value["conn_type"],
                login=value.get("login"),
                password=value.get("password"),
                host=value.get("host"),
                port=value.get("port"),
                schema=value.get("schema"),
                extra=json.dumps(value.get("extra") or {}),
            )
            settings = settings_from_connection(conn)
            if value["host"] == "127.0.0.1":  # the emulator's: the default fixture's key and AppId
                fixture = json.loads((ROOT / "emulator" / "ess_emulator" / "default_fixture.json").read_text("utf-8"))
                assert [a for a in fixture["apps"] if a["app_id"] == settings.app_id], line
                assert {"secret_id": settings.secret_id, "secret_key": settings.secret_key} in fixture["credentials"]
            checked += 1
    assert checked >= 3


def _guide_dags() -> list[tuple[str, str]]:
    found = []
    for source in guide_blocks():
        match = re.search(r'DAG\(\s*"(\w+)"', source)
        if match:
            found.append((match.group(1), source))
    return found


@pytest.mark.parametrize("dag_id, source", _guide_dags(), ids=[d for d, _ in _guide_dags()])
def test_operators_guide_dags_run_against_the_emulator(airflow_db, ess_conn, monkeypatch, dag_id, source):
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow_run import run_dag
    from tests.conftest import png_b64

    monkeypatch.setenv("AIRFLOW_VAR_SEAL_PNG", png_b64(size=(120, 120)))
    path = TEST_DAGS / f"{dag_id}.py"
    path.write_text("# airflow DAG from docs/operators/\n" + source, encoding="utf-8")
    dag = DagBag(dag_folder=str(path)).dags[dag_id]
    result = run_dag(dag)
    assert result.state == "success", result.states
    assert emulator_state(ess_conn)["seals"], "the example made a seal"


def test_operators_guide_trigger_example_runs(ess_conn, capsys):
    from tencent_ess.hooks import EssHook
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec
    from tests.conftest import agent

    [source] = [s for s in guide_blocks() if "EssSealReviewTrigger(" in s]
    seal_id = SealOperations(EssHook()).create_or_reuse(agent(), check_seal_spec(seal_name="触发器章")).seal_id
    exec(compile(source, "docs/operators/review.md", "exec"), {"__name__": "guide_block", "SEAL_ID": seal_id})  # noqa: S102
    assert "'status': 'success'" in capsys.readouterr().out


def _documented_arguments() -> dict[str, set[str]]:
    """Each operator section of the guide ("## `Name` ..."): the argument names its table lists."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in "\n".join(page.read_text(encoding="utf-8") for page in GUIDE).splitlines():
        heading = re.match(r"^## `(\w+)`", line)
        if heading:
            current = heading.group(1)
            sections[current] = set()
        elif current and line.startswith("| `"):
            sections[current].update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return {name: args for name, args in sections.items() if args}


def test_each_operators_documented_arguments_are_its_signature():
    """The guide's tables are typed by hand: every argument a class of ours declares is documented, and every
    documented argument is one the class accepts (its own, or its Airflow base class's)."""
    import inspect

    import tencent_ess.operators
    import tencent_ess.sensors

    documented = _documented_arguments()
    classes = {
        name: getattr(tencent_ess.operators, name, None) or getattr(tencent_ess.sensors, name) for name in documented
    }
    public = {*tencent_ess.operators.__all__, *tencent_ess.sensors.__all__} - {"EssBaseOperator"}
    assert public - set(classes) == set(), f"operators not in the guide: {sorted(public - set(classes))}"
    for name, cls in classes.items():
        own, accepted = set(), set()
        for klass in cls.__mro__:
            if "__init__" not in vars(klass):
                continue
            params = {
                p.name
                for p in inspect.signature(klass.__init__).parameters.values()
                if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self")
            }
            accepted |= params
            if klass.__module__.startswith("tencent_ess"):
                own |= params
        assert own - documented[name] == set(), f"{name}: undocumented {sorted(own - documented[name])}"
        assert documented[name] - accepted == set(), (
            f"{name}: documented but not accepted {sorted(documented[name] - accepted)}"
        )


def test_guide_examples_are_regions_of_the_example_dags():
    """Each `<!-- example: FILE REGION -->` block is, character for character, that region of the example DAG (so
    the docs show what the tests run), and every region of every example DAG is shown somewhere."""
    import textwrap

    regions = {
        (str(path.relative_to(ROOT)), name): textwrap.dedent(body).strip("\n") + "\n"
        for path in sorted(EXAMPLES.glob("example_*.py"))
        for name, body in REGION.findall(path.read_text(encoding="utf-8"))
    }
    assert len(regions) >= 6, regions
    shown = set()
    for page in GUIDE:
        for file, name, body in INCLUDE.findall(page.read_text(encoding="utf-8")):
            assert (file, name) in regions, f"{page.name}: no region {name} in {file}"
            assert body == regions[file, name], f"{page.name}: {name} differs from {file}"
            shown.add((file, name))
    assert set(regions) - shown == set(), f"regions shown nowhere: {sorted(set(regions) - shown)}"
