/// Exponential backoff between reconnect attempts: a pure value, so a retry loop stays testable without a clock.
///
/// The first delay is `minimum`; each further one is `multiplier` times the previous, capped at `maximum`.
/// Call ``reset()`` when the connection made progress, so the next failure starts again from `minimum`.
///
/// Jitter spreads out followers that failed together (a node restart drops every subscriber at once). It only
/// ever shortens a delay, to somewhere in `[delay × (1 − jitter), delay]`, so `maximum` stays a true cap. The random
/// source is a parameter, as in the standard library's `random(in:using:)`, so tests can pass a seeded generator.
public struct Backoff: Sendable {
    public let minimum: Duration
    public let maximum: Duration
    public let multiplier: Double
    /// The largest fraction of a delay that jitter may take away, in `0...1`; `0` turns jitter off.
    public let jitter: Double
    /// The delay before jitter that the next call returns.
    private var base: Duration

    /// - Parameters:
    ///   - minimum: The first delay, and the delay after ``reset()``.
    ///   - maximum: The largest delay ever returned.
    ///   - multiplier: How much each delay grows over the previous one; at least 1.
    ///   - jitter: The largest fraction of a delay taken away at random, in `0...1`.
    public init(
        minimum: Duration = .milliseconds(50),
        maximum: Duration = .seconds(60),
        multiplier: Double = 1.5,
        jitter: Double = 0
    ) {
        precondition(minimum >= .zero && minimum <= maximum, "Backoff needs 0 <= minimum <= maximum")
        precondition(multiplier >= 1, "Backoff multiplier must be at least 1")
        precondition((0...1).contains(jitter), "Backoff jitter must be in 0...1")
        self.minimum = minimum
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.base = minimum
    }

    /// The delay to wait before the next attempt, with jitter from the system's random source.
    public mutating func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// The delay to wait before the next attempt, with jitter drawn from `generator`
    /// (which is not touched when jitter is off).
    public mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        let delay = base
        base = delay * multiplier < maximum ? delay * multiplier : maximum
        guard jitter > 0 else { return delay }
        return delay * (1 - Double.random(in: 0...jitter, using: &generator))
    }

    /// Starts again from `minimum`: call it once an attempt made progress.
    public mutating func reset() {
        base = minimum
    }
}
