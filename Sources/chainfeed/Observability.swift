import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization

/// Logging and metrics backends: bootstrapped here, once per process, and nowhere else.
enum Observability {
    private static let registry = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Logs to stderr at `level`; metrics to a Prometheus registry served at `/metrics`.
    static func bootstrap(logLevel: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let prometheus = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        registry.withLock { $0 = prometheus }
    }

    /// The Prometheus text of every metric of this process.
    @Sendable static func metricsText() -> String {
        guard let prometheus = registry.withLock({ $0 }) else { return "" }
        var buffer: [UInt8] = []
        prometheus.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
