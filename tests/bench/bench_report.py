"""bench_report: the Markdown table and the charts of a mesh_bench run.

    python3 tests/bench/bench_report.py results.json [OUT_DIR]   # redo them from the JSON
"""

import json
import os
import sys

ORDER = ["direct", "tether", "tether-l4", "tether-http", "baseline", "haproxy", "nginx", "stunnel"]
PEERS = ["haproxy", "nginx", "stunnel"]
PCTS = ["p50", "p90", "p99", "p99.9"]


def _names(d):
    return [n for n in ORDER if n in d]


def _f(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def _ratio(ours, theirs, higher_is_better=True):
    # A ratio of a difference that came out at or below zero (an added
    # latency smaller than the direct run's noise) means nothing.
    if not ours or not theirs or ours <= 0 or theirs <= 0:
        return "–"
    r = ours / theirs if higher_is_better else theirs / ours
    return f"{r:.2f}×"


def _best_peer(d, key, higher_is_better=True):
    vals = [(key(d[n]), n) for n in ("haproxy", "nginx") if n in d and key(d[n])]
    if not vals:
        return None, None
    return max(vals) if higher_is_better else min(vals)


def headline(r):
    """Rows of (what, Tether, best of HAProxy/nginx, ratio, target)."""
    rows = []
    ka = r.get("keepalive")
    if ka and "tether" in ka:
        v, who = _best_peer(ka, lambda x: x["rps"])
        rows.append(("keep-alive requests/s", _f(ka["tether"]["rps"]), f"{_f(v)} ({who})",
                     _ratio(ka["tether"]["rps"], v), "≥ 1.5×"))
        if "cpu_us_per_request" in ka["tether"]:
            cpu = lambda x: (sum(x["cpu_us_per_request"]) / len(x["cpu_us_per_request"])  # noqa: E731
                             if x.get("cpu_us_per_request") else None)
            v, who = _best_peer(ka, cpu, higher_is_better=False)
            rows.append(("CPU per request at full load (µs, per proxy)", _f(cpu(ka["tether"]), 1),
                         f"{_f(v, 1)} ({who})", _ratio(cpu(ka["tether"]), v, False), ""))
    nc = r.get("new_connections", {}).get("full_handshake")
    if nc and "tether" in nc:
        v, who = _best_peer(nc, lambda x: x["rate"])
        rows.append(("new mTLS connections/s (full handshake)", _f(nc["tether"]["rate"]),
                     f"{_f(v)} ({who})", _ratio(nc["tether"]["rate"], v), "≥ 3×, ≥ 4,000/s"))
    nr = r.get("new_connections", {}).get("resumption")
    if nr and "tether" in nr:
        v, who = _best_peer(nr, lambda x: x["rate"])
        rows.append(("new connections/s (resumed sessions)", _f(nr["tether"]["rate"]),
                     f"{_f(v)} ({who})", _ratio(nr["tether"]["rate"], v), ""))
    fr = r.get("fixed_rate", {}).get("by_connections", {})
    for conns in sorted(fr, key=int):
        d = fr[conns]
        if "tether" not in d or "direct" not in d:
            continue
        for p, target in (("p50", "≤ 50 µs"), ("p99", "≤ 150 µs")):
            add = lambda x: x["latency_us"][p] - d["direct"]["latency_us"][p]  # noqa: E731
            v, who = _best_peer(d, add, higher_is_better=False)
            rows.append((f"added latency {p}, 1000 req/s, {conns} conns (µs)", _f(add(d["tether"])),
                         f"{_f(v)} ({who})", _ratio(add(d["tether"]), v, False), target))
        cpu = lambda x: x["vcpu_per_1000rps_per_proxy"]  # noqa: E731
        v, who = _best_peer(d, cpu, higher_is_better=False)
        rows.append((f"vCPU per 1000 req/s per proxy ({conns} conns)", _f(cpu(d["tether"]), 4),
                     f"{_f(v, 4)} ({who})", _ratio(cpu(d["tether"]), v, False), "≤ 0.03"))
    mem = r.get("memory", {}).get("by_contender", {})
    if "tether" in mem:
        idle = lambda x: max(x["idle_rss_kb"]) / 1024  # noqa: E731
        v, who = _best_peer(mem, idle, higher_is_better=False)
        rows.append(("RSS idle per proxy (MB, the larger of the pair)", _f(idle(mem["tether"]), 1),
                     f"{_f(v, 1)} ({who})", _ratio(idle(mem["tether"]), v, False), "≤ 8 MB"))
        if "idle_uss_kb" in mem["tether"]:
            uss = lambda x: max(x.get("idle_uss_kb", [0])) / 1024  # noqa: E731
            v, who = _best_peer(mem, uss, higher_is_better=False)
            rows.append(("private memory idle per proxy (MB, USS: RSS less shared libraries)",
                         _f(uss(mem["tether"]), 1), f"{_f(v, 1)} ({who})",
                         _ratio(uss(mem["tether"]), v, False), ""))
        top = str(max(int(k) for k in mem["tether"]["held"]))
        per = lambda x: max(x["held"][top]["bytes_per_conn"]) / 1024 if top in x["held"] else None  # noqa: E731,E501
        v, who = _best_peer(mem, per, higher_is_better=False)
        rows.append((f"KB per open connection ({top} held, per proxy)", _f(per(mem["tether"]), 1),
                     f"{_f(v, 1)} ({who})", _ratio(per(mem["tether"]), v, False), "≤ 20 KB"))
    bulk = r.get("bulk")
    if bulk and "tether" in bulk:
        g = lambda x: x["gbit_per_s"]  # noqa: E731
        v, who = _best_peer(bulk, g)
        rows.append(("bulk, one connection (Gbit/s)", _f(g(bulk["tether"]), 2), f"{_f(v, 2)} ({who})",
                     _ratio(g(bulk["tether"]), v), "≥ 10"))
    return rows


def http_cost(r):
    """Rows of (what, with HTTP metrics, L4 only, ratio): what counting HTTP
    requests costs, tether against tether-l4 in the same run."""
    rows = []
    ka = r.get("keepalive")
    if ka and "tether" in ka and "tether-l4" in ka:
        rows.append(("keep-alive requests/s", _f(ka["tether"]["rps"]), _f(ka["tether-l4"]["rps"]),
                     _ratio(ka["tether"]["rps"], ka["tether-l4"]["rps"])))
        cpu = lambda x: sum(x.get("cpu_us_per_request", [])) or None  # noqa: E731
        if cpu(ka["tether"]) and cpu(ka["tether-l4"]):
            rows.append(("CPU µs per request, both proxies", _f(cpu(ka["tether"]), 1),
                         _f(cpu(ka["tether-l4"]), 1),
                         _ratio(cpu(ka["tether"]), cpu(ka["tether-l4"]), False)))
    h2 = r.get("h2")
    if h2 and "tether" in h2 and "tether-l4" in h2:
        rows.append(("HTTP/2 (h2c) requests/s", _f(h2["tether"]["rps"]), _f(h2["tether-l4"]["rps"]),
                     _ratio(h2["tether"]["rps"], h2["tether-l4"]["rps"])))
        cpu = lambda x: sum(x.get("cpu_us_per_request", [])) or None  # noqa: E731
        if cpu(h2["tether"]) and cpu(h2["tether-l4"]):
            rows.append(("HTTP/2 CPU µs per request, both proxies", _f(cpu(h2["tether"]), 1),
                         _f(cpu(h2["tether-l4"]), 1),
                         _ratio(cpu(h2["tether"]), cpu(h2["tether-l4"]), False)))
    fr = r.get("fixed_rate", {}).get("by_connections", {})
    for conns in sorted(fr, key=int):
        d = fr[conns]
        if "tether" not in d or "tether-l4" not in d or "direct" not in d:
            continue
        for p in ("p50", "p99"):
            add = lambda x: x["latency_us"][p] - d["direct"]["latency_us"][p]  # noqa: E731
            rows.append((f"added latency {p}, 1000 req/s, {conns} conns (µs)", _f(add(d["tether"])),
                         _f(add(d["tether-l4"])), _ratio(add(d["tether"]), add(d["tether-l4"]), False)))
    return rows


def forwarding(r):
    """Rows of (what, tether-http, tether, ratio): HTTP/1.1 terminated on the
    client side over pooled mTLS connections (--http-forward=all) against the
    byte-for-byte relay, same run."""
    rows = []
    ka = r.get("keepalive")
    if ka and "tether-http" in ka and "tether" in ka:
        rows.append(("keep-alive requests/s", _f(ka["tether-http"]["rps"]), _f(ka["tether"]["rps"]),
                     _ratio(ka["tether-http"]["rps"], ka["tether"]["rps"])))
    nc = r.get("new_connections", {})
    for kind, label in (("full_handshake", "new connections/s (no resumption)"),
                        ("resumption", "new connections/s (with resumption)")):
        d = nc.get(kind, {})
        if "tether-http" in d and "tether" in d:
            rows.append((label, _f(d["tether-http"]["rate"]), _f(d["tether"]["rate"]),
                         _ratio(d["tether-http"]["rate"], d["tether"]["rate"])))
    return rows


def markdown(r):
    m = r.get("meta", {})
    out = []
    out.append(f"Run: {m.get('date', '?')}, commit {m.get('commit', '?')}, "
               f"{m.get('cpus', '?')} CPUs ({m.get('cpu_model', '')}), kernel {m.get('kernel', '')}, "
               f"load average {' '.join(m.get('loadavg_at_start', []))} at the start and "
               f"{' '.join(m.get('loadavg_at_end', []))} at the end, "
               f"{m.get('seconds', 0):.0f} s" + (f" ({m['profile']} profile)" if m.get("profile", "full") != "full" else "") + ".")
    if m.get("pinned"):
        out.append(f"Load generator and backend pinned to CPU {m['load_cpus']}, both proxies of "
                   f"the pair to CPU {m['proxy_cpus']}; everything at nice {m.get('nice', '0')}.")
    out.append("")
    rows = headline(r)
    if rows:
        out.append("### Headline: Tether against the better of HAProxy and nginx, same run")
        out.append("")
        out.append("| | Tether | better of HAProxy / nginx | ratio | target |")
        out.append("| --- | ---: | ---: | ---: | --- |")
        for row in rows:
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        out.append("Ratios are ≥ 1 where Tether is better (for latency, CPU and memory: theirs / "
                   "ours).")
        out.append("")
    fwd = forwarding(r)
    if fwd:
        out.append("### HTTP forwarding: tether-http (`--http-forward=all`, pooled mTLS "
                   "connections) against tether (byte-for-byte relay), same run")
        out.append("")
        out.append("| | tether-http | tether | ratio |")
        out.append("| --- | ---: | ---: | ---: |")
        for row in fwd:
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        out.append("An app that opens a connection per request pays a TLS handshake per request "
                   "through the relay, and none through the pool.")
        out.append("")
    cost = http_cost(r)
    if cost:
        out.append("### What HTTP awareness costs: tether (HTTP metrics on) against tether-l4 "
                   "(`--http-metrics=false`), same run")
        out.append("")
        out.append("| | HTTP metrics on | L4 only | ratio |")
        out.append("| --- | ---: | ---: | ---: |")
        for row in cost:
            out.append("| " + " | ".join(row) + " |")
        out.append("")
        out.append("A ratio below 1 is the share of L4 mode's performance kept.")
        out.append("")
    h2 = r.get("h2")
    if h2:
        out.append("### HTTP/2 (h2c, as gRPC): h2load, 16 connections, 10 streams each, "
                   "to nginx over HTTP/2")
        out.append("")
        out.append("| | requests/s | failed | CPU µs per request (client proxy, server proxy) |")
        out.append("| --- | ---: | ---: | --- |")
        for n in _names(h2):
            v = h2[n]
            cpu = ", ".join(_f(x, 1) for x in v.get("cpu_us_per_request", [])) or "—"
            out.append(f"| {n} | {_f(v['rps'])} | {v.get('failed', 0)} | {cpu} |")
        out.append("")
        out.append("The load generator and the backend share one CPU, so requests/s is "
                   "bounded by them (see `direct`); CPU per request is the proxies' cost.")
        out.append("")
    ka = r.get("keepalive")
    if ka:
        out.append("### 1. Keep-alive throughput (wrk, 1 thread, 64 connections)")
        out.append("")
        out.append("| contender | requests/s | p50 µs | p99 µs | Tether's ratio | CPU µs per request "
                   "(client, server proxy) |")
        out.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for n in _names(ka):
            x = ka[n]
            vs = _ratio(ka["tether"]["rps"], x["rps"]) if "tether" in ka else "–"
            cpu = ", ".join(f"{v:.1f}" for v in x.get("cpu_us_per_request", [])) or "–"
            out.append(f"| {n} | {_f(x['rps'])} | {_f(x.get('p50_us'))} | {_f(x.get('p99_us'))} "
                       f"| {vs} | {cpu} |")
        out.append("")
    fr = r.get("fixed_rate")
    if fr:
        out.append(f"### 2. Fixed rate, open loop: {fr['rate']} requests/s, 1 KB responses "
                   "(latency added over direct, µs) and 6. CPU")
        out.append("")
        if fr.get("sched_fifo"):
            out.append("Run under SCHED_FIFO (load generator, backend and proxies), so that other "
                       "tenants' time slices do not add milliseconds of wake-up delay.")
            out.append("")
        for conns in sorted(fr["by_connections"], key=int):
            d = fr["by_connections"][conns]
            out.append(f"{conns} connections:")
            out.append("")
            out.append("| contender | p50 | p90 | p99 | p99.9 | errors | vCPU per 1000 req/s "
                       "per proxy (client, server) |")
            out.append("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
            for n in _names(d):
                x = d[n]
                if n == "direct":
                    cells = [f"({_f(x['latency_us'][p])} absolute)" for p in PCTS]
                else:
                    cells = [_f(x["latency_us"][p] - d.get("direct", x)["latency_us"][p])
                             if "direct" in d else _f(x["latency_us"][p]) for p in PCTS]
                cpu = ", ".join(f"{v / (fr['rate'] / 1000):.4f}" for v in x.get("proxy_vcpu", []))
                out.append(f"| {n} | {' | '.join(cells)} | {x['errors']} | {cpu or '–'} |")
            out.append("")
    nc = r.get("new_connections")
    if nc:
        out.append("### 3. New connections: a fresh TCP + mTLS handshake per request "
                   "(16 concurrent)")
        out.append("")
        out.append("| contender | full handshakes/s | p50 µs | p99 µs | with resumption/s | p50 µs "
                   "| p99 µs |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        full, res = nc.get("full_handshake", {}), nc.get("resumption", {})
        for n in _names({**full, **res}):
            a, b = full.get(n), res.get(n)
            cells = []
            for x in (a, b):
                cells += [_f(x["rate"]), _f(x["latency_us"]["p50"]), _f(x["latency_us"]["p99"])] \
                    if x else ["–"] * 3
            out.append(f"| {n} | {' | '.join(cells)} |")
        out.append("")
        if "tether" in res and "resumed_handshakes" in res["tether"]:
            out.append(f"Tether's client side counted {res['tether']['resumed_handshakes']:.0f} "
                       "resumed sessions (`tether_proxy_tls_sessions_resumed_total`).")
            out.append("")
    bulk = r.get("bulk")
    if bulk:
        out.append("### 4. Bulk throughput, one connection (iperf3)")
        out.append("")
        out.append("| contender | Gbit/s |")
        out.append("| --- | ---: |")
        for n in _names(bulk):
            out.append(f"| {n} | {_f(bulk[n]['gbit_per_s'], 2)} |")
        out.append("")
    mem = r.get("memory")
    if mem:
        counts = [str(c) for c in mem["counts"]]
        out.append("### 5. Memory (RSS of the client-side / server-side proxy)")
        out.append("")
        head = " | ".join(f"{c} held: MB | bytes/conn" for c in counts)
        out.append(f"| contender | idle RSS MB | idle private MB | {head} |")
        out.append("| --- | ---: | ---: |" + " ---: | ---: |" * len(counts))
        for n in _names(mem["by_contender"]):
            x = mem["by_contender"][n]
            cells = [" / ".join(f"{v / 1024:.1f}" for v in x["idle_rss_kb"]),
                     " / ".join(f"{v / 1024:.1f}" for v in x.get("idle_uss_kb", []))]
            for c in counts:
                h = x["held"].get(c)
                if h is None:
                    cells += ["–", "–"]
                    continue
                note = "" if h["connections"] == int(c) else f" ({h['connections']} held)"
                cells.append(" / ".join(f"{v / 1024:.1f}" for v in h["rss_kb"]) + note)
                cells.append(" / ".join(f"{v:,.0f}" for v in h["bytes_per_conn"]))
            out.append(f"| {n} | {' | '.join(cells)} |")
        out.append("")
    cp = r.get("control_plane")
    if cp:
        out.append("### 7. Control plane (tether-control)")
        out.append("")
        s = cp.get("signing", {})
        out.append(f"- Certificates signed: {s.get('certificates')} CSRs on one stream in "
                   f"{s.get('seconds')} s: **{_f(s.get('per_second'))} per second**.")
        st = cp.get("streams", {})
        out.append(f"- Streams: {st.get('established', '?')} of {st.get('requested')} established; "
                   f"{st.get('rss_line', '')}")
        out.append("")
    return "\n".join(out) + "\n"


def document(r, md, charts_dir):
    """RESULTS.md: the command, the date, the machine, the tables and charts."""
    m = r.get("meta", {})
    v = m.get("versions", {})
    return f"""# Benchmark results

Command: `make bench` (`tests/bench/run.sh`, which runs
`{m.get('command', '')}`), on {m.get('date', '?')}, commit `{m.get('commit', '?')}`.

The machine is a shared 2-vCPU VM on which other people build while the
benchmark runs (load average {' '.join(m.get('loadavg_at_start', []))} when this run
started; the load average at the end counts stunnel's thread per held
connection), and where a system call costs about 3-6 µs, many times bare
metal. Everything the harness starts runs at nice -20 and the fixed-rate
scenario under SCHED_FIFO, which keeps most of the other tenants' work out,
but absolute numbers still move from run to run. Read the ratios between
contenders of the same run; `tests/bench/README.md` explains each scenario
and what bounds the results. Negative "added" latencies are percentiles of
the proxied runs that came out below the direct run's (noise in the tail).

Peers: {v.get('haproxy', '')}; {v.get('nginx', '')}; {v.get('stunnel', '')};
{v.get('openssl', '')} under all three. Tether: BoringSSL (Debian's
android-platform-external-boringssl), statically linked.

{md}
![latency percentiles at 1,000 requests/s]({charts_dir}/latency.png)

![throughput]({charts_dir}/throughput.png)

Raw numbers: [`{charts_dir}/results.json`]({charts_dir}/results.json).
"""


def charts(r, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench_report: matplotlib missing (apt-get install python3-matplotlib); no charts",
              file=sys.stderr)
        return
    colors = {"direct": "#999999", "tether": "#1f77b4", "haproxy": "#ff7f0e", "nginx": "#2ca02c",
              "stunnel": "#9467bd", "baseline": "#17becf", "tether-l4": "#aec7e8"}
    fr = r.get("fixed_rate")
    if fr:
        groups = sorted(fr["by_connections"], key=int)
        fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.2), squeeze=False)
        for ax, conns in zip(axes[0], groups):
            d = fr["by_connections"][conns]
            # Absolute latencies, direct included: differences can come out
            # negative in the tail, which a log scale cannot show.
            names = _names(d)
            w = 0.8 / max(len(names), 1)
            for i, n in enumerate(names):
                vals = [d[n]["latency_us"][p] for p in PCTS]
                ax.bar([j + i * w for j in range(len(PCTS))], vals, w, label=n, color=colors[n])
            ax.set_xticks([j + w * (len(names) - 1) / 2 for j in range(len(PCTS))])
            ax.set_xticklabels(PCTS)
            ax.set_yscale("log")
            ax.set_ylabel("latency through the pair (µs, log)")
            ax.set_title(f"{fr['rate']} req/s, open loop, {conns} connections")
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "latency.png"), dpi=110)
        plt.close(fig)
    panels = []
    if r.get("keepalive"):
        panels.append(("keep-alive requests/s", {n: v["rps"] for n, v in r["keepalive"].items()}))
    nc = r.get("new_connections", {})
    if nc.get("full_handshake"):
        panels.append(("new mTLS connections/s (full)",
                       {n: v["rate"] for n, v in nc["full_handshake"].items()}))
    if nc.get("resumption"):
        panels.append(("new connections/s (resumed)",
                       {n: v["rate"] for n, v in nc["resumption"].items()}))
    if r.get("bulk"):
        panels.append(("bulk Gbit/s, one connection",
                       {n: v["gbit_per_s"] for n, v in r["bulk"].items()}))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
        for ax, (title, d) in zip(axes[0], panels):
            names = _names(d)
            ax.bar(names, [d[n] for n in names], color=[colors[n] for n in names])
            ax.set_title(title)
            ax.tick_params(axis="x", rotation=30)
            for i, n in enumerate(names):
                ax.annotate(f"{d[n]:,.0f}" if d[n] >= 100 else f"{d[n]:.1f}", (i, d[n]),
                            ha="center", va="bottom", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "throughput.png"), dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    res = json.load(open(sys.argv[1]))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(sys.argv[1]))
    print(markdown(res))
    charts(res, out)
