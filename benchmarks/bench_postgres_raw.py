"""Raw PostgreSQL paths that chose the backend's point layout: one row per point vs packed chunks
(as in the SQLite store), written with binary COPY and read back into numpy.

    .venv/bin/python benchmarks/bench_postgres_raw.py [--url postgresql://...] [--points 1000000]

Without --url a throwaway server is started (tests/pg_server.py). Medians of 3; each writer is its
own process (8 writers into one table, one series each).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
TRAILER = b"\xff\xff"
ROW = np.dtype(
    [("nf", ">i2"), ("l1", ">i4"), ("sid", ">i4"), ("l2", ">i4"), ("seq", ">i8"), ("l3", ">i4"),
     ("step", ">i8"), ("l4", ">i4"), ("wall", ">f8"), ("l5", ">i4"), ("val", ">f8")]
)
OUT_ROW = np.dtype(
    [("nf", ">i2"), ("l1", ">i4"), ("step", ">i8"), ("l2", ">i4"), ("val", ">f8"), ("l3", ">i4"),
     ("wall", ">f8")]
)
CHUNK = 65_536

SCHEMA = """
DROP TABLE IF EXISTS pts; DROP TABLE IF EXISTS chunks;
CREATE TABLE pts (series_id int NOT NULL, seq bigint NOT NULL, step bigint NOT NULL,
                  wall float8 NOT NULL, value float8 NOT NULL, PRIMARY KEY (series_id, seq));
CREATE TABLE chunks (series_id int NOT NULL, seq0 bigint NOT NULL, n int NOT NULL,
                     step_lo bigint NOT NULL, step_hi bigint NOT NULL, steps bytea NOT NULL,
                     walls bytea NOT NULL, vals bytea NOT NULL, PRIMARY KEY (series_id, seq0));
"""


def rows_payload(sid: int, seq0: int, steps: np.ndarray, walls: np.ndarray, vals: np.ndarray) -> bytes:
    a = np.empty(len(steps), dtype=ROW)
    a["nf"], a["l1"], a["l2"], a["l3"], a["l4"], a["l5"] = 5, 4, 8, 8, 8, 8
    a["sid"], a["seq"] = sid, np.arange(seq0, seq0 + len(steps))
    a["step"], a["wall"], a["val"] = steps, walls, vals
    return HEADER + a.tobytes() + TRAILER


def _series(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One series of n points: steps, walls and values as the store gets them."""
    steps = np.arange(n, dtype=np.int64)
    return steps, 1.7e9 + steps * 1e-3, np.sin(steps * 1e-3)


def write_rows(url: str, sid: int, n: int, batch: int) -> float:
    steps, walls, vals = _series(n)
    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        for a in range(0, n, batch):
            with conn.cursor() as cur, cur.copy(
                "COPY pts (series_id, seq, step, wall, value) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(rows_payload(sid, a, steps[a : a + batch], walls[a : a + batch], vals[a : a + batch]))
            conn.commit()
    return time.perf_counter() - t


def write_chunks(url: str, sid: int, n: int, batch: int) -> float:
    steps, walls, vals = _series(n)
    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        for a in range(0, n, batch):
            with conn.cursor() as cur, cur.copy(
                "COPY chunks (series_id, seq0, n, step_lo, step_hi, steps, walls, vals)"
                " FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["int4", "int8", "int4", "int8", "int8", "bytea", "bytea", "bytea"])
                for c in range(a, min(n, a + batch), CHUNK):
                    s = steps[c : min(c + CHUNK, a + batch)]
                    copy.write_row((sid, c, len(s), int(s[0]), int(s[-1]), b"",
                                    walls[c : c + len(s)].astype("<f8").tobytes(),
                                    vals[c : c + len(s)].astype("<f8").tobytes()))
            conn.commit()
    return time.perf_counter() - t


def read_rows(url: str, sid: int) -> tuple[float, int]:
    t = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        buf = bytearray()
        with cur.copy(
            f"COPY (SELECT step, value, wall FROM pts WHERE series_id = {sid} ORDER BY seq)"
            " TO STDOUT (FORMAT BINARY)"
        ) as copy:
            for data in copy:
                buf += data
        a = np.frombuffer(memoryview(buf)[19:-2], dtype=OUT_ROW)
        steps, vals, walls = a["step"].astype(np.int64), a["val"].astype(np.float64), a["wall"].astype(np.float64)
    return time.perf_counter() - t, len(steps)


def read_chunks(url: str, sid: int) -> tuple[float, int]:
    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        cur = conn.cursor(binary=True)
        rows = cur.execute(
            "SELECT n, step_lo, step_hi, vals, walls FROM chunks WHERE series_id = %s ORDER BY seq0",
            (sid,),
        ).fetchall()
        vals = np.concatenate([np.frombuffer(r[3], "<f8") for r in rows])
        walls = np.concatenate([np.frombuffer(r[4], "<f8") for r in rows])
        steps = np.concatenate([np.arange(r[0]) + r[1] for r in rows])
    return time.perf_counter() - t, len(steps)


def _writer(args: tuple[str, str, int, int, int]) -> float:
    kind, url, sid, n, batch = args
    return (write_rows if kind == "rows" else write_chunks)(url, sid, n, batch)


def parallel(kind: str, url: str, procs: int, n: int, batch: int) -> float:
    with mp.get_context("spawn").Pool(procs) as pool:
        t = time.perf_counter()
        pool.map(_writer, [(kind, url, 100 + i, n, batch) for i in range(procs)])
        return time.perf_counter() - t


def size(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(f"SELECT pg_total_relation_size('{table}')").fetchone()[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=50_000, help="points per flush (one COPY)")
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    opts = ap.parse_args()
    server = None
    url = opts.url
    if url is None:
        from tests import pg_server

        server = pg_server.start_server()
        url = server.create_database()
    try:
        n = opts.points
        for kind in ("rows", "chunks"):
            w, r, par = [], [], []
            for _ in range(opts.repeat):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(SCHEMA)
                w.append(_writer((kind, url, 1, n, opts.batch)))
                r.append((read_rows if kind == "rows" else read_chunks)(url, 1)[0])
                par.append(parallel(kind, url, opts.procs, n // opts.procs * 2, opts.batch))
            table = "pts" if kind == "rows" else "chunks"
            per_proc = n // opts.procs * 2
            print(
                f"{kind:7s} write 1 proc {n / statistics.median(w) / 1e3:7.0f}k pts/s | "
                f"{opts.procs} procs x {per_proc:,} {opts.procs * per_proc / statistics.median(par) / 1e3:7.0f}k pts/s | "
                f"read {n:,} {statistics.median(r) * 1e3:6.0f} ms | "
                f"disk {size(url, table) / (n + opts.procs * per_proc):5.1f} B/pt"
            )
    finally:
        if server is not None:
            from tests import pg_server

            pg_server.remove(server)


if __name__ == "__main__":
    main()
