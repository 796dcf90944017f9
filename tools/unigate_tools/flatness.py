"""Whether the local server's cost per request stays flat as its store grows: `python -m unigate_tools.flatness`.

Starts the bench's upstream and the local server (unigate_tools.bench), then sends chat requests on one
account (each adds a hold and a settle entry to its ledger and a measurement to the metrics table) and
measures the p50 of WINDOW sequential requests after EARLY and after LATE earlier ones; the requests in
between are sent by a few concurrent clients, to get there sooner. Prints both p50s and their ratio, and
the server's resident memory at each point. The target: the later p50 within 1.2x of the earlier.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from unigate_tools.bench import _body, _latencies, _percentile, _start
from unigate_tools.template import PROJECT_ROOT

EARLY = int(os.environ.get("FLAT_EARLY", "1000"))
LATE = int(os.environ.get("FLAT_LATE", "50000"))
WINDOW = int(os.environ.get("FLAT_WINDOW", "300"))
FILLERS = 4


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _fill(url: str, key: str, count: int) -> None:
    def run(share: int) -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
            _latencies(client, url, _body(), share)

    shares = [count // FILLERS + (1 if i < count % FILLERS else 0) for i in range(FILLERS)]
    with ThreadPoolExecutor(FILLERS) as pool:
        list(pool.map(run, shares))


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        servers = _start(Path(workdir))
        gateway = servers.processes[1]
        env = {**os.environ, "UNIGATE_STATE_DIR": workdir}
        # Enough credits for every request (the demo account has 10).
        subprocess.run([sys.executable, "-m", "unigate_tools.cli", "--local", "credits", "grant",
                        "--account", "acct_demo", "--amount", "100000", "--idempotency-key", "flatness"],
                       env=env, cwd=PROJECT_ROOT,
                       check=True, capture_output=True)
        url = f"{servers.gateway}/v1/chat/completions"
        client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {servers.key}"})
        report: dict[str, Any] = {"window": WINDOW}
        sent = 0
        try:
            for label, before in (("early", EARLY), ("late", LATE)):
                started = time.monotonic()
                _fill(url, servers.key, before - sent)
                sent = before
                latencies = _latencies(client, url, _body(), WINDOW)
                sent += WINDOW
                report[label] = {"earlier_requests": before, "p50_ms": round(_percentile(latencies, 0.5), 2),
                                 "p90_ms": round(_percentile(latencies, 0.9), 2), "server_rss_mb": _rss_mb(gateway.pid),
                                 "fill_seconds": round(time.monotonic() - started, 1)}
                print(json.dumps({label: report[label]}), flush=True)
        finally:
            for process in servers.processes:
                process.terminate()
                process.wait(timeout=10)
    report["ratio"] = round(report["late"]["p50_ms"] / report["early"]["p50_ms"], 3)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
