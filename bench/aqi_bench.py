"""Benchmark: daily and hourly (real-time) AQI — envmon's polars path vs a plain pandas version.

Run: .venv/bin/python bench/aqi_bench.py [--sites 12,300,600,1200] [--pandas-sites 12,24,48,96]

Data: the real Beijing PRSA set (12 stations × 4 years, 420,768 hourly rows), replicated to N
stations (site names "<station>#<k>"). Rules: HJ 633-2012 (the data's period) for both; the real-time report as the national
platform publishes it (envmon's default reading, docs/aqi.md).
Each (implementation, report, size) runs in its own subprocess, so the peak RSS (VmHWM) is that
implementation's alone (interpreter + libraries + its input data + its working memory).
Hourly reports are computed in batches of BATCH_SITES stations (both implementations), each
batch's result reduced to a checksum as if written out — a 42-million-row report with ~40
columns would not be held in memory in production either.
The pandas version is checked against the polars one on the 12-station set (same AQI everywhere).
Prints figures only; it asserts no timings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH_SITES = 120
PANDAS_TIME_CAP_S = 600  # beyond this (estimated) pandas is measured on a subset and extrapolated


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- data


def base_polars():
    from bench.prsa import load_prsa

    return load_prsa()


def replicate_polars(base, n_sites: int):
    """`n_sites` stations: whole copies of the 12 stations, then part of one more (no sort —
    both implementations sort by site and time themselves)."""
    import polars as pl

    stations = base["site"].unique().sort().to_list()
    full, rest = divmod(n_sites, len(stations))
    parts = [base.with_columns(pl.col("site") + f"#{k}") for k in range(full)]
    if rest:
        parts.append(
            base.filter(pl.col("site").is_in(stations[:rest])).with_columns(
                pl.col("site") + f"#{full}"
            )
        )
    return pl.concat(parts, rechunk=True)


def replicate_pandas(n_sites: int):
    """The same rows built natively in pandas (site as category), so pandas' peak RSS holds no
    polars copy."""
    import pandas as pd

    base = base_polars().to_pandas()
    stations = sorted(base["site"].unique())
    full, rest = divmod(n_sites, len(stations))
    parts = [base.assign(site=base["site"] + f"#{k}") for k in range(full)]
    if rest:
        part = base[base["site"].isin(stations[:rest])]
        parts.append(part.assign(site=part["site"] + f"#{full}"))
    out = pd.concat(parts, ignore_index=True)
    out["site"] = out["site"].astype("category")  # an analyst's memory-conscious choice
    return out


def site_batches(site) -> list[tuple[int, int]]:
    """(offset, length) of consecutive row blocks holding BATCH_SITES sites each; the data are
    stored site by site (as the warehouse partitions them), so a batch is a zero-copy slice."""
    import polars as pl

    starts = pl.arg_where(
        (site != site.shift()).fill_null(True), eager=True
    ).to_list()  # each site's first row
    bounds = [*starts[::BATCH_SITES], len(site)]
    return [(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]


def pl_series(values):
    import polars as pl

    return pl.Series(values.astype(str).to_numpy())


# ---------------------------------------------------------------- polars path (production code)


def run_polars(report: str, n_sites: int) -> dict:
    from transforms.standards import aqi_daily, aqi_hourly, daily_air_values

    hourly = replicate_polars(base_polars(), n_sites)
    rows = hourly.height
    t0 = time.perf_counter()
    if report == "daily":
        out = aqi_daily(daily_air_values(hourly))
        checksum = int(out["aqi"].sum())
        n_out = out.height
    else:
        checksum, n_out = 0, 0
        for start, length in site_batches(hourly["site"]):
            out = aqi_hourly(hourly.slice(start, length))
            checksum += int(out["aqi"].sum())
            n_out += out.height
            del out
    return {"rows": rows, "seconds": time.perf_counter() - t0, "checksum": checksum, "n_out": n_out}


# ---------------------------------------------------------------- pandas path (an analyst's version)

BP = {  # HJ 633-2012 Table 1 (copied as an analyst would; the production code reads tables/)
    "so2_24h": [0, 50, 150, 475, 800, 1600, 2100, 2620],
    "so2_1h": [0, 150, 500, 650, 800],
    "no2_24h": [0, 40, 80, 180, 280, 565, 750, 940],
    "no2_1h": [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    "pm10_24h": [0, 50, 150, 250, 350, 420, 500, 600],
    "pm25_24h": [0, 35, 75, 115, 150, 250, 350, 500],
    "co_24h": [0, 2, 4, 14, 24, 36, 48, 60],
    "co_1h": [0, 5, 10, 35, 60, 90, 120, 150],
    "o3_1h": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "o3_8h": [0, 100, 160, 215, 265, 800],
}
IAQI_STEPS = [0, 50, 100, 150, 200, 300, 400, 500]
NAMES = {
    "so2": "SO2",
    "no2": "NO2",
    "pm10": "PM10",
    "pm25": "PM2.5",
    "co": "CO",
    "o3_1h": "O3_1h",
    "o3_8h": "O3_8h",
}


def iaqi_raw(c, table):
    if c != c:  # NaN
        return float("nan")
    bps = BP[table]
    for j in range(1, len(bps)):
        if c <= bps[j]:
            return (IAQI_STEPS[j] - IAQI_STEPS[j - 1]) * (c - bps[j - 1]) / (
                bps[j] - bps[j - 1]
            ) + IAQI_STEPS[j - 1]
    return float("nan") if table in ("so2_1h", "o3_8h") else 500.0


def ceil_iaqi(x):
    return float("nan") if x != x else math.ceil(round(x, 9))


def finish_aqi(df, iaqi_cols):
    import numpy as np

    sub = df[iaqi_cols]
    # 2012: AQI only when every indicator is present (an omitted O3 8-h > 800 is not missing)
    missing = sub.isna()
    if "iaqi_o3_8h" in iaqi_cols:
        omitted = df["o3_8h_c"] > 800
        missing["iaqi_o3_8h"] = missing["iaqi_o3_8h"] & ~omitted
    df["aqi"] = sub.max(axis=1).where(~missing.any(axis=1))

    def primary(row):
        if not row["aqi"] > 50:
            return None
        return ";".join(NAMES[c[5:]] for c in iaqi_cols if row[c] == row["aqi"])

    df["primary_pollutants"] = df[[*iaqi_cols, "aqi"]].apply(primary, axis=1)
    df["aqi"] = df["aqi"].astype("float64").replace({np.nan: None})
    return df


def pandas_daily(h):
    import numpy as np
    import pandas as pd

    h = h.copy()
    local = h["period_start"].dt.tz_convert("Asia/Shanghai")
    h["date"] = local.dt.date
    h["hour"] = local.dt.hour
    cols = {
        "so2": "so2_ugm3",
        "no2": "no2_ugm3",
        "pm10": "pm10_ugm3",
        "pm25": "pm25_ugm3",
        "co": "co_mgm3",
    }
    g = h.groupby(["site", "date"])
    means = g[list(cols.values())].mean()
    counts = g[list(cols.values())].count()
    daily = means.where(counts >= 20)
    daily.columns = list(cols)
    daily["o3_1h"] = g["o3_ugm3"].max().where(g["o3_ugm3"].count() >= 20)
    roll = h.groupby("site").rolling("8h", on="period_start")["o3_ugm3"]
    o3_8 = roll.mean().where(roll.count() >= 6).reset_index(drop=True)
    h = h.sort_values(["site", "period_start"]).reset_index(drop=True)
    h["o3_8h"] = o3_8.values
    late = h[h["hour"] >= 7].groupby(["site", "date"])["o3_8h"]
    daily["o3_8h"] = late.max().where(late.count() >= 14)
    daily = daily.reset_index()
    tables = {
        "so2": "so2_24h",
        "no2": "no2_24h",
        "pm10": "pm10_24h",
        "pm25": "pm25_24h",
        "co": "co_24h",
        "o3_1h": "o3_1h",
        "o3_8h": "o3_8h",
    }
    for k, t in tables.items():
        daily[f"iaqi_{k}"] = daily[k].apply(lambda c, t=t: ceil_iaqi(iaqi_raw(c, t)))
    daily["o3_8h_c"] = daily["o3_8h"]
    daily = finish_aqi(daily, [f"iaqi_{k}" for k in tables])
    return daily.assign(aqi=pd.to_numeric(daily["aqi"]).astype("float64").fillna(np.nan))


def pandas_hourly(h):
    import pandas as pd

    h = h.sort_values(["site", "period_start"]).reset_index(drop=True)
    g = h.groupby("site")
    for col, hours, need, out in (
        ("so2_ugm3", "24h", 20, "so2_24h"),
        ("pm10_ugm3", "24h", 20, "pm10_24h"),
        ("pm25_ugm3", "24h", 20, "pm25_24h"),
        ("o3_ugm3", "8h", 6, "o3_8h"),
    ):
        roll = g.rolling(hours, on="period_start")[col]
        h[out] = roll.mean().where(roll.count() >= need).reset_index(drop=True).values

    def so2(row):
        c = row["so2_ugm3"]
        if c == c and c > 800:  # HJ 633-2012: use the 24-h value instead
            return ceil_iaqi(iaqi_raw(row["so2_24h"], "so2_24h"))
        return ceil_iaqi(iaqi_raw(c, "so2_1h"))

    h["iaqi_so2"] = h[["so2_ugm3", "so2_24h"]].apply(so2, axis=1)
    for k, col, t in (
        ("no2", "no2_ugm3", "no2_1h"),
        ("co", "co_mgm3", "co_1h"),
        ("o3_1h", "o3_ugm3", "o3_1h"),
        # the national practice (envmon's default reading): the PM 1-h values on the 24-h
        # breakpoints, O3 from its 1-h value only; the 24-h and 8-h means stay concentrations
        ("pm10", "pm10_ugm3", "pm10_24h"),
        ("pm25", "pm25_ugm3", "pm25_24h"),
    ):
        h[f"iaqi_{k}"] = h[col].apply(lambda c, t=t: ceil_iaqi(iaqi_raw(c, t)))
    h["o3_8h_c"] = h["o3_8h"]
    h = finish_aqi(h, [f"iaqi_{k}" for k in ("so2", "no2", "co", "o3_1h", "pm10", "pm25")])
    return h.assign(aqi=pd.to_numeric(h["aqi"]))


def run_pandas(report: str, n_sites: int) -> dict:
    h = replicate_pandas(n_sites)
    rows = len(h)
    t0 = time.perf_counter()
    if report == "daily":
        out = pandas_daily(h)
        checksum, n_out = int(out["aqi"].sum()), len(out)
    else:
        checksum, n_out = 0, 0
        for start, length in site_batches(pl_series(h["site"])):
            batch = h.iloc[start : start + length].copy()
            batch["site"] = batch["site"].astype(str)
            out = pandas_hourly(batch)
            checksum += int(out["aqi"].sum())
            n_out += len(out)
            del out, batch
    return {"rows": rows, "seconds": time.perf_counter() - t0, "checksum": checksum, "n_out": n_out}


def check_same(n_sites: int = 12) -> str:
    """The pandas version gives the same daily and hourly AQI as the polars path."""
    import numpy as np

    from transforms.standards import aqi_daily, aqi_hourly, daily_air_values

    h = replicate_polars(base_polars(), n_sites)
    hp = h.to_pandas()
    d_pl = aqi_daily(daily_air_values(h)).sort("site", "date")
    d_pd = pandas_daily(hp).sort_values(["site", "date"])
    a, b = d_pl["aqi"].to_numpy().astype(float), d_pd["aqi"].to_numpy().astype(float)
    assert len(a) == len(b) and np.array_equal(
        np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1)
    ), "daily AQI differs"
    h_pl = aqi_hourly(h).sort("site", "period_start")
    h_pd = pandas_hourly(hp).sort_values(["site", "period_start"])
    a, b = h_pl["aqi"].to_numpy().astype(float), h_pd["aqi"].to_numpy().astype(float)
    assert len(a) == len(b) and np.array_equal(
        np.nan_to_num(a, nan=-1), np.nan_to_num(b, nan=-1)
    ), "hourly AQI differs"
    return f"pandas == polars on {n_sites} stations: {len(d_pl)} daily and {len(h_pl)} hourly AQI values identical"


# ---------------------------------------------------------------- driver


def worker(impl: str, report: str, n_sites: int) -> None:
    import gc

    fn = run_polars if impl == "polars" else run_pandas
    result = fn(report, n_sites)
    gc.collect()
    result["peak_rss_mb"] = vm_hwm_mb()
    print(json.dumps(result))


def measure(impl: str, report: str, n_sites: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", impl, report, str(n_sites)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} {report} {n_sites}: {proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(impl=impl, report=report, sites=n_sites)
    return res


def show(r: dict, note: str = "") -> None:
    print(
        f"  {r['impl']:<6} {r['report']:<6} {r['sites']:>5} sites {r['rows']:>11,} rows "
        f"{r['seconds']:9.2f} s {r['rows'] / r['seconds']:>13,.0f} rows/s peak RSS {r['peak_rss_mb']:8.0f} MB{note}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--sites", default="12,300,600,1200")
    ap.add_argument("--pandas-sites", default="12,24,48,96,300,600,1200")
    ap.add_argument("--reports", default="daily,hourly")
    args = ap.parse_args()
    if args.worker:
        impl, report, n = args.worker
        worker(impl, report, int(n))
        return
    print(check_same())
    sizes = [int(s) for s in args.sites.split(",")]
    psizes = [int(s) for s in args.pandas_sites.split(",")]
    big = max(sizes)
    for report in args.reports.split(","):
        print(f"\n== {report} AQI (HJ 633-2012 rules) ==")
        pol = {n: measure("polars", report, n) for n in sizes}
        for n in sizes:
            show(pol[n])
        pan: dict[int, dict] = {}
        for n in psizes:
            if pan:
                last = max(pan)
                if pan[last]["seconds"] * n / last > PANDAS_TIME_CAP_S:
                    print(
                        f"  pandas {report} at {n} stations estimated > {PANDAS_TIME_CAP_S} s: not run"
                    )
                    break
            pan[n] = measure("pandas", report, n)
            show(pan[n])
        n_p = max(pan)
        p_big = pan.get(big)
        if p_big is None:
            # linear extrapolation from the largest measured subset (time and working memory)
            scale = big / n_p
            base_rss = pan[n_p]["peak_rss_mb"]
            small = pan[min(pan)]
            per_site_mb = (
                (base_rss - small["peak_rss_mb"]) / (n_p - min(pan))
                if n_p > min(pan)
                else base_rss / n_p
            )
            p_big = {
                "impl": "pandas",
                "report": report,
                "sites": big,
                "rows": int(pan[n_p]["rows"] * scale),
                "seconds": pan[n_p]["seconds"] * scale,
                "peak_rss_mb": base_rss + per_site_mb * (big - n_p),
            }
            show(
                p_big,
                f"   <- EXTRAPOLATED linearly from {n_p} stations (time × {scale:g}; RSS by MB per station)",
            )
        pb = pol[big]
        print(
            f"  at {big} stations: polars {pb['seconds']:.1f} s vs pandas {p_big['seconds']:.1f} s "
            f"-> speed ratio {p_big['seconds'] / pb['seconds']:.1f}x; peak RSS polars {pb['peak_rss_mb']:.0f} MB vs "
            f"pandas {p_big['peak_rss_mb']:.0f} MB -> memory ratio {pb['peak_rss_mb'] / p_big['peak_rss_mb']:.2f}"
        )
        growth = [n for n in sizes if n in (big // 4, big // 2, big)]
        if len(growth) == 3:
            t1 = pol[growth[0]]["seconds"]
            print(
                "  polars growth 1x/2x/4x ("
                + "/".join(str(n) for n in growth)
                + " stations): "
                + " / ".join(
                    f"{pol[n]['seconds']:.1f} s ({pol[n]['seconds'] / t1:.2f})" for n in growth
                )
            )
        ps = sorted(pan)
        if len(ps) >= 3:
            t1 = pan[ps[0]]["seconds"]
            print(
                "  pandas growth ("
                + "/".join(map(str, ps))
                + " stations): "
                + " / ".join(
                    f"{pan[n]['seconds']:.1f} s ({pan[n]['seconds'] / t1:.2f})" for n in ps
                )
            )


if __name__ == "__main__":
    main()
