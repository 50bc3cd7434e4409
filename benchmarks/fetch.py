"""Concurrent page fetching: 10 pages that each take 1 s to answer, agentkit's Fetcher vs a plain
sequential ``requests.get`` loop (what a notebook does), in one run, medians of --runs.

    .venv/bin/python benchmarks/fetch.py [--pages 10] [--delay 1.0] [--runs 3]

Served by a local threaded HTTP server on 127.0.0.1 (the Fetcher runs with allow_private=True for it).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class SlowPage(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        time.sleep(float(query["delay"][0]))
        body = f"<html><head><title>page {query['id'][0]}</title></head><body><p>Page {query['id'][0]} text.</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import requests

    from agentkit.tools import Fetcher

    def serve() -> tuple[ThreadingHTTPServer, str]:
        # A fresh server per measurement: Python's http.server left one handler slow after the
        # sequential client's connections, which made the next concurrent run wait a second.
        server = ThreadingHTTPServer(("127.0.0.1", 0), SlowPage)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    ours: list[float] = []
    sequential: list[float] = []
    for run in range(args.runs):
        server, base = serve()
        urls = [f"{base}/p?id={run}-{i}&delay={args.delay}" for i in range(args.pages)]
        fetcher = Fetcher(allow_private=True, timeout=args.delay * 5, total_timeout=args.delay * 10, concurrency=args.pages)
        t = time.perf_counter()
        pages = fetcher.fetch_many(urls)
        ours.append(time.perf_counter() - t)
        assert all(p.ok for p in pages), [p.error for p in pages if not p.ok]
        server.shutdown()
        server, base = serve()
        t = time.perf_counter()
        for url in urls:
            requests.get(url.replace(url.split("/p?")[0], base), timeout=args.delay * 5).raise_for_status()
        sequential.append(time.perf_counter() - t)
        server.shutdown()
    a, b = statistics.median(ours), statistics.median(sequential)
    print(f"{args.pages} pages, each answering after {args.delay:g} s; medians of {args.runs} runs\n")
    print(f"| {'fetcher':<40} | {'median s':>9} |")
    print(f"|{'-' * 42}|{'-' * 11}|")
    print(f"| {'agentkit Fetcher.fetch_many (async)':<40} | {a:>9.2f} |")
    print(f"| {'sequential requests.get loop':<40} | {b:>9.2f} |")
    print(f"\nagentkit x{b / a:.1f} faster (ideal: x{args.pages})")


if __name__ == "__main__":
    main()
