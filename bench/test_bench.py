"""Unit tests of the benchmark harness's parsing and arithmetic (run by
deploy/local/test.sh: python3 -m unittest discover -s bench)."""

import datetime
import os
import sys
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench  # noqa: E402
import report  # noqa: E402

WRK = """Running 5s test @ http://127.0.0.1:18180
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms    1.12ms  19.11ms   82.63%
    Req/Sec    12.62k     1.28k   14.93k    78.12%
  Latency Distribution
     50%  850.00us
     75%    2.94ms
     90%    3.56ms
     99%     1.20s
  201101 requests in 8.01s, 26.85MB read
  Socket errors: connect 0, read 2, write 0, timeout 5
  Non-2xx or 3xx responses: 17
Requests/sec:  25113.24
Transfer/sec:      3.35MB
"""


class Wrk(unittest.TestCase):
    def test_a_report_is_read_with_its_units(self):
        got = bench.parse_wrk(WRK)
        self.assertEqual(got["requests_per_s"], 25113.24)
        self.assertEqual(got["requests"], 201101)
        self.assertAlmostEqual(got["p50_ms"], 0.85)
        self.assertAlmostEqual(got["p99_ms"], 1200.0)
        self.assertEqual(got["non_2xx"], 17)
        self.assertEqual(got["socket_errors"], 7)

    def test_a_clean_run_has_no_errors(self):
        clean = "\n".join(l for l in WRK.splitlines() if "Socket" not in l and "Non-2xx" not in l)
        got = bench.parse_wrk(clean)
        self.assertEqual((got["non_2xx"], got["socket_errors"]), (0, 0))

    def test_a_failed_run_says_so(self):
        with self.assertRaises(SystemExit):
            bench.parse_wrk("unable to connect to 127.0.0.1:18180 Connection refused")
        with self.assertRaises(SystemExit):
            bench.ms("12xs")


class Arithmetic(unittest.TestCase):
    def test_percentiles_are_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(bench.percentile(values, 50), 50)
        self.assertEqual(bench.percentile(values, 95), 95)
        self.assertEqual(bench.percentile(values, 99), 99)
        self.assertEqual(bench.percentile([7.0], 99), 7.0)
        self.assertEqual(bench.percentile([3, 1, 2], 100), 3)

    def test_the_weekly_review_asks_for_the_last_whole_iso_week(self):
        queries = dict(bench.review_queries(datetime.date(2026, 11, 28)))  # a Saturday
        self.assertEqual(queries["reach"], "reach?from=2026-11-16&to=2026-11-22")
        self.assertEqual(queries["weekly report"], "report?week=2026-W47")
        self.assertEqual(queries["clicks out"], "clicks-out?from=2026-11-16&to=2026-11-22")
        self.assertIn("from=2026-08-30&to=2026-11-27", queries["early contact, schulden, 90 days"])

    def test_the_history_is_three_whole_weekdays_before_the_run(self):
        d = datetime.date
        # Sunday 2026-11-29 and the Monday after: the Wednesday to Friday before.
        self.assertEqual(bench.history_until(d(2026, 11, 29)), d(2026, 11, 27))
        self.assertEqual(bench.history_until(d(2026, 11, 30)), d(2026, 11, 27))
        # Thursday: Monday to Wednesday; Wednesday: not today, so the week before.
        self.assertEqual(bench.history_until(d(2026, 12, 3)), d(2026, 12, 2))
        self.assertEqual(bench.history_until(d(2026, 12, 2)), d(2026, 11, 27))
        for offset in range(14):
            until = bench.history_until(d(2026, 11, 23) + datetime.timedelta(days=offset))
            self.assertTrue(all((until - datetime.timedelta(days=i)).weekday() < 5 for i in range(3)))

    def test_reach_answers_give_their_page_views(self):
        self.assertEqual(bench.pageviews({"figures": [{"metric": "visits", "current": 1},
                                                      {"metric": "pageviews", "current": 42}]}), 42)
        with self.assertRaises(SystemExit):
            bench.pageviews({"figures": []})

    def test_the_paced_wait_is_the_period_less_what_a_request_took(self):
        # 256 connections for 10,000/s: a period of 25.6 ms. A trial that waited that
        # long and got 8,000/s took 6.4 ms per request besides the wait.
        self.assertAlmostEqual(bench.next_wait(25.6, 25.6, 8000, 256), 19.2)
        # The next trial waited 19.2 ms and got 9,000/s: 9.24 ms besides the wait now.
        self.assertAlmostEqual(bench.next_wait(25.6, 19.2, 9000, 256), 25.6 - (1000 * 256 / 9000 - 19.2))
        # Slower than the rate even without waiting: no negative wait.
        self.assertEqual(bench.next_wait(25.6, 0.0, 5000, 256), 0.0)
        # Faster than the wait alone allows (wrk's rounding): never longer than the period.
        self.assertEqual(bench.next_wait(25.6, 25.6, 12000, 256), 25.6)

    def test_the_held_load_reports_each_segments_wait_and_rate(self):
        b7 = {"load_segment_s": 10, "load_segments": [
            {"wait_ms": 8.27, "requests_per_s": 19341.5, "p99_ms": 25.6},
            {"wait_ms": 7.567, "requests_per_s": 21186.2, "p99_ms": 26.5}]}
        text = report.paced_load({}, b7)
        self.assertIn("segments of 10 s", text)
        self.assertIn("8.27, 7.57 ms", text)
        self.assertIn("19,342, 21,186 requests/s", text)
        # Results from before the held load: the one calibrated wait of the command.
        old = {"commands": {"7-load": ["wrk -t2 -c256 -d260s -s event.lua http://x -- 6.413"]}}
        self.assertEqual(report.paced_load(old, {}), "wrk waited 6.41 ms after each answer")


class Chart(unittest.TestCase):
    def test_the_cpu_budget_is_the_cores_time_per_event_less_the_brokers(self):
        # Two cores at a million events a second: 2 µs each, of which the broker takes 0.3.
        self.assertAlmostEqual(report.cpu_budget_us(2, 1_000_000, 0.3), 1.7)

    def test_cpu_per_item_needs_a_live_process_and_items(self):
        before = bench.cpu_s(os.getpid())
        sum(i * i for i in range(200_000))
        self.assertGreaterEqual(bench.cpu_us_per(os.getpid(), before, 1), 0)
        self.assertIsNone(bench.cpu_us_per(None, before, 1))
        self.assertIsNone(bench.cpu_us_per(os.getpid(), before, 0))
        self.assertIsNone(bench.cpu_s(2 ** 22 + 7))  # above pid_max: no such process

    def test_the_chart_is_an_svg_with_a_line_per_series(self):
        point = lambda rate, p50, p99, f=None: {"requests_per_s": rate, "p50_ms": p50, "p99_ms": p99, "fraction": f,
                                                "connections": 256}
        b1 = {
            "nginx": point(90000, 0.6, 3.0),
            "collector": point(25000, 2.4, 6.0),
            "nginx_curve": [point(9000 * i, 0.1 * i, 0.5 * i, i / 10) for i in (1, 3, 5, 7, 9)],
            "collector_curve": [point(2500 * i, 2.0, 4.0 + i, i / 10) for i in (1, 3, 5, 7, 9)],
        }
        svg = ET.fromstring(report.chart(b1))
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(svg.tag, f"{ns}svg")
        self.assertEqual(len(svg.findall(f"{ns}polyline")), 4)
        self.assertEqual(len(svg.findall(f"{ns}circle")), 4 * 6)
        labels = [t.text for t in svg.findall(f"{ns}text")]
        self.assertIn("collector p99", labels)
        self.assertIn("nginx p50", labels)


if __name__ == "__main__":
    unittest.main()
