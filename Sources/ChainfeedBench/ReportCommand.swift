import ArgumentParser

/// Prints the one markdown table of a bench run from its `key=value` results file.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Print the markdown table of a results file written by scripts/bench.sh.")

    @Argument(help: "The results file (key=value lines).")
    var file: String

    func run() throws {
        guard let text = ProcessStats.readText(file) else { throw ValidationError("cannot read \(file)") }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        var table = ReportTable(values: values)
        print(table.render(), terminator: "")
    }
}

/// The table: machine, settings, then each figure beside its reference and the ratio.
struct ReportTable {
    let values: [String: String]
    private var rows: [[String]] = []

    init(values: [String: String]) { self.values = values }

    func v(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
    func d(_ key: String) -> Double? { v(key).flatMap(Double.init) }

    /// "not measured (reason)" for a section that has no figure.
    func missing(_ section: String) -> String {
        "not measured (\(v("notmeasured.\(section)") ?? "no result"))"
    }

    static func ratio(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b, b > 0 else { return "–" }
        return fmt(a / b, 2)
    }

    static func thousands(_ x: Double?) -> String? {
        guard let x else { return nil }
        let n = Int(x.rounded())
        var s = String(abs(n))
        var i = s.count - 3
        while i > 0 {
            s.insert(",", at: s.index(s.startIndex, offsetBy: i))
            i -= 3
        }
        return (n < 0 ? "-" : "") + s
    }

    mutating func row(_ cells: String...) { rows.append(cells) }

    mutating func render() -> String {
        rows = []
        row("machine", "cores / CPU / RAM", "\(v("machine.cores") ?? "?") × \(v("machine.model") ?? "?"), \(v("machine.ram_gib") ?? "?") GiB RAM", "", "", v("machine.versions") ?? "")
        row("settings", "run", v("settings.run") ?? "", "", "", v("settings.total") ?? "")
        fanOut()
        selective()
        ingest()
        rest()
        var out = "| area | figure | Chainfeed | reference | ratio | target / note |\n|---|---|---|---|---|---|\n"
        for r in rows { out += "| " + r.joined(separator: " | ") + " |\n" }
        return out
    }

    // MARK: Sections

    mutating func fanOut() {
        for n in ["1000", "5000", "10000"] {
            let cf = "fanout.cf.\(n)", nc = "fanout.nchan.\(n)"
            let area = "fan-out \(Self.thousands(Double(n)) ?? n) conns"
            guard d("\(cf).delivered_per_s") != nil else {
                row(area, "all figures", missing("fanout.\(n)"), "", "", "")
                continue
            }
            let ncOK = d("\(nc).delivered_per_s") != nil
            row(area, "settings", "\(v("\(cf).event_rate") ?? "?") events/s (blocks+deploys via simulator → ingest → Redis), block every \(v("fanout.\(n).block_interval_ms") ?? "?") ms, \(v("\(cf).window_s") ?? "?") s window", ncOK ? "nchan: same events relayed, \(v("\(nc).event_rate") ?? "?") events/s" : "", "", "")
            row(area, "delivered msg/s (loss %)",
                "\(Self.thousands(d("\(cf).delivered_per_s")) ?? "–") (\(v("\(cf).loss_pct") ?? "–") %)",
                ncOK ? "nchan \(Self.thousands(d("\(nc).delivered_per_s")) ?? "–") (\(v("\(nc).loss_pct") ?? "–") %)" : missing("nchan.\(n)"),
                Self.ratio(share(cf), share(nc)),
                (n == "5000" ? "≥ 1 (at or above nchan). " : "") + "Ratio of the shares delivered (delivered ÷ owed): at a fixed rate msg/s follows the window's event mix")
            row(area, "latency p50 / p99 / max ms",
                "\(v("\(cf).p50_ms") ?? "–") / \(v("\(cf).p99_ms") ?? "–") / \(v("\(cf).max_ms") ?? "–")",
                ncOK ? "nchan \(v("\(nc).p50_ms") ?? "–") / \(v("\(nc).p99_ms") ?? "–") / \(v("\(nc).max_ms") ?? "–")" : missing("nchan.\(n)"),
                "p99 " + Self.ratio(d("\(cf).p99_ms"), d("\(nc).p99_ms")), n == "5000" ? "p99 ratio < 1 (lower than nchan)" : "")
            row(area, "server CPU µs / delivery (CPU %)",
                "\(v("\(cf).server_us_per_delivery") ?? "–") (\(v("\(cf).server_cpu_pct") ?? "–") %)",
                ncOK ? "nchan \(v("\(nc).server_us_per_delivery") ?? "–") (\(v("\(nc).server_cpu_pct") ?? "–") %)" : missing("nchan.\(n)"),
                Self.ratio(d("\(cf).server_us_per_delivery"), d("\(nc).server_us_per_delivery")), "lower is better")
            row(area, "load client CPU µs / delivery (CPU %)",
                "\(v("\(cf).client_us_per_delivery") ?? "–") (\(v("\(cf).client_cpu_pct") ?? "–") %)",
                ncOK ? "nchan run \(v("\(nc).client_us_per_delivery") ?? "–") (\(v("\(nc).client_cpu_pct") ?? "–") %)" : "",
                "", "the client is not the bottleneck while its CPU % stays well under 100")
            row(area, "server RSS idle, RSS per connection", rssText(cf), ncOK ? "nchan " + rssText(nc) + " (workers + master)" : missing("nchan.\(n)"),
                Self.ratio(d("\(cf).rss_per_conn_bytes"), d("\(nc).rss_per_conn_bytes")), "≤ 8 KiB per idle connection")
            if let dis = v("\(cf).disconnects"), dis != "0" || v("\(cf).close_codes") != "none" {
                row(area, "server-closed connections", "\(dis) (close codes \(v("\(cf).close_codes") ?? "–"))", ncOK ? "nchan \(v("\(nc).disconnects") ?? "–")" : "", "", "")
            }
        }
    }

    /// Delivered ÷ owed: the part of the run's deliveries that arrived.
    func share(_ p: String) -> Double? {
        guard let delivered = d("\(p).delivered"), let owed = d("\(p).owed"), owed > 0 else { return nil }
        return delivered / owed
    }

    func rssText(_ p: String) -> String {
        let idle = d("\(p).rss_idle_kib").map { fmt($0 / 1024, 1) } ?? "–"
        let per = d("\(p).rss_per_conn_bytes").map { fmt($0 / 1024, 1) } ?? "–"
        return "\(idle) MiB idle, \(per) KiB/conn"
    }

    mutating func selective() {
        let small = "select.cf.1000", large = "select.cf.10000"
        guard d("\(large).server_us_per_event") != nil || d("\(small).server_us_per_event") != nil else {
            row("selective filters", "all figures", missing("select"), "", "", "")
            return
        }
        row("selective filters", "settings", "each connection filtered to its own account; \(v("\(large).event_rate") ?? "?") DeployProcessed events/s published in the bus wire format, spread over the subscribed accounts (each owes one delivery); \(v("\(large).window_s") ?? "?") s window", "", "", "")
        row("selective filters", "server CPU µs / published event, 10,000 vs 1,000 subscribers",
            v("\(large).server_us_per_event").map { "\($0) at 10,000" } ?? missing("select.10000"),
            v("\(small).server_us_per_event").map { "\($0) at 1,000" } ?? missing("select.1000"),
            Self.ratio(d("\(large).server_us_per_event"), d("\(small).server_us_per_event")), "≈ 1 (flat as subscribers grow)")
        row("selective filters", "delivered/s, p50 / p99 ms (10,000 / 1,000)",
            "\(Self.thousands(d("\(large).delivered_per_s")) ?? "–") (loss \(v("\(large).loss_pct") ?? "–") %), \(v("\(large).p50_ms") ?? "–") / \(v("\(large).p99_ms") ?? "–")",
            "\(Self.thousands(d("\(small).delivered_per_s")) ?? "–") (loss \(v("\(small).loss_pct") ?? "–") %), \(v("\(small).p50_ms") ?? "–") / \(v("\(small).p99_ms") ?? "–")",
            "", "")
        row("selective filters", "server RSS per connection (10,000)",
            d("\(large).rss_per_conn_bytes").map { fmt($0 / 1024, 1) + " KiB" } ?? "–", "", "", "≤ 8 KiB")
    }

    mutating func ingest() {
        guard let rate = d("ingest.rate") else {
            row("ingest", "events/s stored with dedup", missing("ingest"), "", "", "")
            return
        }
        row("ingest", "events/s stored with dedup (writer) vs plain COPY",
            "\(Self.thousands(rate) ?? "–") (\(Self.thousands(d("ingest.events")) ?? "?") events in \(v("ingest.seconds") ?? "?") s)",
            d("copy.rate").map { "COPY \(Self.thousands($0) ?? "–") rows/s (\(Self.thousands(self.d("copy.rows")) ?? "?") rows)" } ?? missing("copy"),
            Self.ratio(rate, d("copy.rate")),
            v("ingest.ratios").map { "≥ 0.5; median of 5 rounds, each beside its own COPY (ratios \($0))" } ?? "≥ 0.5")
    }

    mutating func rest() {
        guard d("rest.page1.rps") != nil else {
            row("REST", "all figures", missing("rest"), "", "", "")
            return
        }
        row("REST", "settings", "\(Self.thousands(d("rest.blocks")) ?? "?") blocks, \(Self.thousands(d("rest.account_deploys")) ?? "?") deploys of one account; wrk \(v("rest.concurrency") ?? "?") connections, \(v("rest.seconds") ?? "?") s each", "pgbench, same SQL on the same read replica, same clients", "", "")
        for (key, name) in [("page1", "`/blocks?limit=10` page 1"), ("deep", "`/blocks?limit=10&page=\(v("rest.deep_page") ?? "?")` (deep)"), ("account", "`/accountDeploys/…?limit=10` page 1")] {
            row("REST", "\(name): req/s (p99 ms)",
                d("rest.\(key).rps").map { "\(Self.thousands($0) ?? "–") (\(v("rest.\(key).p99_ms") ?? "–"))" } ?? missing("rest.\(key)"),
                d("pg.\(key).tps").map { "pgbench \(Self.thousands($0) ?? "–") (\(v("pg.\(key).p99_ms") ?? "–"))" } ?? missing("pg.\(key)"),
                Self.ratio(d("rest.\(key).rps"), d("pg.\(key).tps")), "≥ 0.5")
        }
        row("REST", "deep page vs page 1 (req/s)", v("rest.deep.rps") ?? "–", "page 1 \(v("rest.page1.rps") ?? "–")",
            Self.ratio(d("rest.deep.rps"), d("rest.page1.rps")), "≥ 0.5 (deep page within 2× of page 1)")
    }
}
