"""The sizing report: its contents, that it is self-contained, and that it renders in headless Chromium."""

import re
import shutil
import subprocess
import textwrap

import pytest

from sim.planner import plan
from sim.report import recommendation_text, write_report

FIGURES = ("memory.png", "cow.png", "latency.png", "heatmap.png", "windows.png")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A small plan (quiet hours 03:00-05:00) and its report, shared by the tests below."""
    folder = tmp_path_factory.mktemp("report")
    rates = ["40k"] * 24
    rates[3] = rates[4] = "1k"
    scenario = folder / "tiny.yaml"
    scenario.write_text(
        textwrap.dedent(f"""\
        name: tiny-report
        node: {{type: cache.t4g.micro}}
        dataset: {{keys: 300k, value_size: 1KB}}
        workload: {{daily_profile: {{writes_per_sec: [{", ".join(rates)}]}}}}
        plan:
          node_types: [cache.t4g.micro, cache.t4g.small]
          reserved_memory_percent: [25]
          windows: ["01:00", "03:00", "05:00", "12:00"]
          retention_days: 7
          objectives: {{min_data_growth: 1.1}}    # 300k keys leave a t4g.micro x1.20 growth
          uncertainty: {{runs: 10, inputs: {{load_factor: {{range: [0.8, 1.2]}}}}}}
        """)
    )
    result = plan(scenario)
    write_report(result, folder / "out")
    return result, folder / "out"


def test_report_files_and_recommendation(report):
    result, out = report
    assert {p.name for p in out.iterdir()} == {"report.html", "report.md", "plan.json", *FIGURES}
    html = (out / "report.html").read_text()
    text = recommendation_text(result)
    assert text.startswith("Recommendation: cache.t4g.micro with reserved-memory-percent 25")
    assert "window opening 03:00" in text and text in html
    for reason in result.reasons:
        assert reason in html.replace("&#x27;", "'")
    assert "Alternatives" in html and "cache.t4g.small" in html and "Headroom" in html


def test_html_is_self_contained(report):
    _, out = report
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(FIGURES)
    assert not re.search(r'(src|href)="(?!data:)', html)  # no external images, scripts or style sheets


def test_markdown_has_the_same_content_with_png_files(report):
    result, out = report
    markdown = (out / "report.md").read_text()
    assert recommendation_text(result) in markdown
    for name in FIGURES:
        assert f"]({name})" in markdown and (out / name).read_bytes()[:4] == b"\x89PNG"
    assert markdown.count("| cache.t4g.") >= 2


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); `make test` installs it")
    result, out = report
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), done.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05  # text, tables and plots, not a blank page
    assert shot.stat().st_size > 50_000
    assert recommendation_text(result) in (out / "report.html").read_text()


def test_report_without_a_recommendation(tmp_path):
    scenario = tmp_path / "big.yaml"
    scenario.write_text(
        "node: {type: cache.t4g.micro}\ndataset: {keys: 2M, value_size: 1KB}\n"
        "plan: {node_types: [cache.t4g.micro, cache.t4g.small], windows: ['03:00']}\n"
    )
    result = plan(scenario)
    assert result.recommendation is None
    write_report(result, tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "No configuration meets the objectives" in html and "cannot hold used_memory" in html


def test_figures_tell_paging_from_oom_and_label_cells_that_do_not_fit(report):
    from sim.humanize import nice_round
    from sim.report import analyse, figures

    assert figures.VERDICTS[4] == "data does not fit" and figures.VERDICT_MARKS[4] == "no fit"
    classes = [
        figures.risk_class({"outcome": o}, missed)
        for o, missed in (("ok", False), ("ok", True), ("paging", True), ("oom", True))
    ]
    assert [figures.RISK_CLASSES[c] for c in classes] == list(figures.RISK_CLASSES)
    result, _ = report
    rates = analyse(result).heat_rates
    assert rates == sorted(set(rates)) and all(nice_round(r) == r for r in rates)
