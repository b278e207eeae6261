import ChainfeedCore

/// Renders a page in the original event store's shape: `{data, pageCount, itemCount, pages:[{number,url}]}`.
enum PageJSON {
    static func render<Item: Encodable>(_ page: Page<Item>, path: String) -> String {
        var out = "{\"data\":["
        out.reserveCapacity(512 * page.items.count + 64 * page.window.count + 64)
        for (i, item) in page.items.enumerated() {
            if i > 0 { out += "," }
            out += JSONText.encode(item)
        }
        out += "],\"pageCount\":\(page.pageCount),\"itemCount\":\(page.itemCount),\"pages\":["
        for (i, number) in page.window.enumerated() {
            if i > 0 { out += "," }
            let url = "\(path)?page=\(number)&limit=\(page.request.limit)"
            out += "{\"number\":\(number),\"url\":\(JSONText.quote(url))}"
        }
        return out + "]}"
    }
}
