"""The `t2sql serve` form page in a real browser: a question becomes SQL, a bad request shows its error."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RegisteredSqlModel
from tests.e2e.conftest import VENV_BIN
from tests.servers import Server, free_port, start_server, wait_for_http

UI_TIMEOUT_MS = 60_000
GENERATE_TIMEOUT_MS = 120_000  # the first request loads the model


@pytest.fixture(scope="module")
def serving_url(chromium_executable: str, registered_sql_model: RegisteredSqlModel, artifacts_dir: Path) -> Iterator[tuple[str, Server]]:
    """`t2sql serve --model NAME@champion` on a free localhost port, stopped with its process group.

    `chromium_executable` comes first: without a browser the test skips before a model is trained.
    """
    env = {**os.environ, **registered_sql_model.env(), "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "TOKENIZERS_PARALLELISM": "false"}
    port = free_port()
    command = [str(VENV_BIN / "t2sql"), "serve", "--model", registered_sql_model.reference, "--db-dir", str(registered_sql_model.db_dir)]
    server = start_server("t2sql-serve", [*command, "--host", "127.0.0.1", "--port", str(port)], env, artifacts_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", [server])
        yield url, server
    finally:
        server.stop()


@pytest.mark.slow
def test_form_turns_a_question_into_sql_and_shows_errors(serving_url: tuple[str, Server], browser: Any, artifacts_dir: Path) -> None:
    url, server = serving_url
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.set_default_timeout(UI_TIMEOUT_MS)

    def shot(name: str) -> None:
        page.screenshot(path=str(artifacts_dir / f"serving-{name}.png"), full_page=True)

    def result_shown() -> None:
        # The page clears both outputs on submit and fills exactly one when the answer arrives.
        page.wait_for_function(
            "() => document.querySelector('#sql').textContent.trim() || document.querySelector('#error').textContent.trim()",
            timeout=GENERATE_TIMEOUT_MS,
        )

    try:
        page.goto(url)
        options = page.locator("#db_id option")
        options.first.wait_for(state="attached")
        assert sorted(options.all_inner_texts()) == ["flights", "school", "shop"]
        page.select_option("#db_id", "shop")
        page.fill("#question", "How many customers are there?")
        shot("1-form")
        page.click("#submit")
        result_shown()
        sql, error = page.inner_text("#sql").strip(), page.inner_text("#error").strip()
        assert not error, f"the page shows an error instead of SQL: {error}"
        assert sql.endswith(";") and len(sql) > 1, f"not a SQL statement: {sql!r}"
        shot("2-sql")

        # Whitespace passes the browser's `required` check; the server refuses it and the page says why.
        page.fill("#question", "   ")
        page.click("#submit")
        result_shown()
        assert page.inner_text("#sql").strip() == ""
        error = page.inner_text("#error").strip()
        assert "question" in error.lower(), f"the error does not name the question: {error!r}"
        shot("3-error")
    except Exception as failure:
        shot("failure")
        raise AssertionError(f"{failure}\n\nscreenshot: {artifacts_dir / 'serving-failure.png'}\n{server.log_tail()}") from failure
