"""Load tests of a stage behind fastauthz, run with locust: `fastauthz loadtest` (command.py), with
`pip install 'fastauthz[loadtest]'`. The user modules are locustfiles (websocket_user.py, http_user.py,
lifetime_user.py); core.py judges each connect and the run, arrivals.py is the open model (--rate),
results.py the per-second counts, tokens.py the token supply, lambda_logs.py the authorizer's side
(REPORT lines), report.py the HTML report. The authorizer never imports this package."""
