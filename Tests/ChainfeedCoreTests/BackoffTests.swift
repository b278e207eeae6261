import ChainfeedCore
import Testing

/// Exponential backoff: growth, cap, reset and jitter, with a seeded random source.
@Suite struct BackoffTests {
    /// SplitMix64: a tiny deterministic generator, so jitter tests give the same draws every run.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        var draws = 0

        mutating func next() -> UInt64 {
            draws += 1
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("the defaults start at 50 ms and grow by 1.5")
    func defaultGrowth() {
        var backoff = Backoff()
        let delays = (0..<5).map { _ in backoff.nextDelay() }
        #expect(delays == [.milliseconds(50), .milliseconds(75), .microseconds(112_500), .microseconds(168_750), .microseconds(253_125)])
    }

    @Test("delays stop growing at the maximum")
    func cappedAtMaximum() {
        var backoff = Backoff(minimum: .seconds(1), maximum: .seconds(10), multiplier: 2)
        let delays = (0..<7).map { _ in backoff.nextDelay() }
        #expect(delays == [1, 2, 4, 8, 10, 10, 10].map { Duration.seconds($0) })
    }

    @Test("the default maximum is 60 seconds")
    func defaultMaximum() {
        var backoff = Backoff()
        for _ in 0..<40 { _ = backoff.nextDelay() }
        #expect(backoff.nextDelay() == .seconds(60))
    }

    @Test("reset starts again from the minimum")
    func reset() {
        var backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(5), multiplier: 3)
        _ = backoff.nextDelay()
        _ = backoff.nextDelay()
        #expect(backoff.nextDelay() == .milliseconds(900))
        backoff.reset()
        #expect(backoff.nextDelay() == .milliseconds(100))
        #expect(backoff.nextDelay() == .milliseconds(300))
    }

    @Test("a multiplier of 1 gives a constant delay")
    func constant() {
        var backoff = Backoff(minimum: .seconds(2), maximum: .seconds(60), multiplier: 1)
        #expect((0..<4).map { _ in backoff.nextDelay() } == Array(repeating: .seconds(2), count: 4))
    }

    @Test("jitter only shortens a delay, by at most its fraction, and never breaks the cap")
    func jitterBounds() {
        var jittered = Backoff(minimum: .milliseconds(100), maximum: .seconds(2), multiplier: 2, jitter: 0.25)
        var plain = Backoff(minimum: .milliseconds(100), maximum: .seconds(2), multiplier: 2)
        var generator = SeededGenerator(state: 42)
        var shortened = 0
        for _ in 0..<200 {
            let full = plain.nextDelay()
            let delay = jittered.nextDelay(using: &generator)
            #expect(delay <= full)
            #expect(delay >= full * 0.75)
            #expect(delay <= .seconds(2))
            if delay < full { shortened += 1 }
        }
        #expect(shortened > 150)  // the draws really vary (a seeded sequence, so this is not flaky)
    }

    @Test("the same seed gives the same jittered delays")
    func jitterDeterministic() {
        func delays(seed: UInt64) -> [Duration] {
            var backoff = Backoff(jitter: 0.5)
            var generator = SeededGenerator(state: seed)
            return (0..<10).map { _ in backoff.nextDelay(using: &generator) }
        }
        #expect(delays(seed: 7) == delays(seed: 7))
        #expect(delays(seed: 7) != delays(seed: 8))
    }

    @Test("without jitter the random source is not used")
    func noJitterNoDraws() {
        var backoff = Backoff()
        var generator = SeededGenerator(state: 1)
        _ = backoff.nextDelay(using: &generator)
        _ = backoff.nextDelay(using: &generator)
        #expect(generator.draws == 0)
    }
}
