"""The one-page HTML form served at `GET /`: pick a database, ask a question, see the SQL."""

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>t2sql: question to SQL</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  textarea, select { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; }
  button { margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; }
  pre { background: #f4f4f4; padding: .8rem; white-space: pre-wrap; min-height: 1.5rem; }
  #error { color: #b00020; }
</style>
</head>
<body>
<h1>Question to SQL</h1>
<form id="generate-form">
  <label for="db_id">Database</label>
  <select id="db_id" name="db_id" required></select>
  <label for="question">Question</label>
  <textarea id="question" name="question" rows="3" maxlength="2000" required></textarea>
  <label for="evidence">Evidence (optional)</label>
  <textarea id="evidence" name="evidence" rows="2" maxlength="4000"></textarea>
  <button id="submit" type="submit">Generate SQL</button>
</form>
<h2>SQL</h2>
<pre id="sql"></pre>
<p id="error" role="alert"></p>
<script>
const form = document.getElementById("generate-form");
const sqlOut = document.getElementById("sql");
const errorOut = document.getElementById("error");
const button = document.getElementById("submit");

async function loadDatabases() {
  const select = document.getElementById("db_id");
  try {
    const response = await fetch("/databases");
    const ids = await response.json();
    if (!response.ok) throw new Error(ids.error || response.statusText);
    for (const id of ids) {
      const option = document.createElement("option");
      option.value = id;
      option.textContent = id;
      select.appendChild(option);
    }
  } catch (e) {
    errorOut.textContent = "Could not list the databases: " + e.message;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  sqlOut.textContent = "";
  errorOut.textContent = "";
  const body = {
    question: document.getElementById("question").value,
    db_id: document.getElementById("db_id").value,
  };
  const evidence = document.getElementById("evidence").value;
  if (evidence.trim()) body.evidence = evidence;
  button.disabled = true;
  try {
    const response = await fetch("/generate_sql", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
    const result = await response.json();
    if (response.ok) sqlOut.textContent = result.sql;
    else errorOut.textContent = result.error || response.statusText;
  } catch (e) {
    errorOut.textContent = "Request failed: " + e.message;
  } finally {
    button.disabled = false;
  }
});

loadDatabases();
</script>
</body>
</html>
"""
