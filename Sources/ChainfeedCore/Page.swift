/// Why a page request was refused.
public struct PageError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A 1-based page of a newest-first list, as the original event store's `?page=&limit=` asks for it.
public struct PageRequest: Sendable, Equatable {
    public var page: Int
    public var limit: Int

    public static let defaultLimit = 10
    public static let limitRange = 1...100

    public init(page: Int = 1, limit: Int = PageRequest.defaultLimit) {
        self.page = page
        self.limit = limit
    }

    /// Parses the query values; absent means the default, anything else must be an integer in range.
    public static func parse(page: String?, limit: String?) throws(PageError) -> PageRequest {
        var request = PageRequest()
        if let page {
            guard let p = Int(page), p >= 1 else { throw PageError("page must be an integer ≥ 1, got '\(page)'") }
            request.page = p
        }
        request.limit = try parseLimit(limit)
        return request
    }

    /// Parses a `limit` (1…100, default 10).
    public static func parseLimit(_ limit: String?) throws(PageError) -> Int {
        guard let limit else { return defaultLimit }
        guard let l = Int(limit), limitRange.contains(l) else {
            throw PageError("limit must be an integer from \(limitRange.lowerBound) to \(limitRange.upperBound), got '\(limit)'")
        }
        return l
    }

    /// The 1-based insertion positions this page covers, newest first, in a list of `count` items.
    ///
    /// Lists are numbered by a dense position kept at insert time, so any page is a range lookup of
    /// `limit` rows, never an offset scan.
    public func positions(count: Int) -> ClosedRange<Int>? {
        guard count > 0, page - 1 <= count / limit else { return nil }
        let hi = count - (page - 1) * limit
        guard hi >= 1 else { return nil }
        return max(1, hi - limit + 1)...hi
    }
}

/// One page of a list with the counts the original event store reports.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var itemCount: Int
    public var request: PageRequest

    public init(items: [Item], itemCount: Int, request: PageRequest) {
        self.items = items
        self.itemCount = itemCount
        self.request = request
    }

    public var pageCount: Int {
        itemCount == 0 ? 0 : (itemCount + request.limit - 1) / request.limit
    }

    /// Page numbers to link: the first, the last, and up to two neighbours each side of the current one.
    public var window: [Int] {
        Self.window(current: request.page, pageCount: pageCount)
    }

    public static func window(current: Int, pageCount: Int, neighbours: Int = 2) -> [Int] {
        guard pageCount > 0 else { return [] }
        var pages = Set([1, pageCount])
        let c = min(max(current, 1), pageCount)
        for p in max(1, c - neighbours)...min(pageCount, c + neighbours) { pages.insert(p) }
        return pages.sorted()
    }
}
