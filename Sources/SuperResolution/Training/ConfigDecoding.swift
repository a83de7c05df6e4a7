import Foundation

/// Training configurations are written by hand: every field may be left out (it takes its
/// default), and a field upres does not know is an error naming it, so that a typo never
/// silently falls back to a default.
struct ConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// Throws `DecodingError.dataCorrupted` naming the first key not in `known`.
    func rejectUnknownKeys<K: CodingKey & CaseIterable>(_ keys: K.Type) throws {
        let known = Set(K.allCases.map(\.stringValue))
        let container = try self.container(keyedBy: ConfigKey.self)
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [ConfigKey(stringValue: unknown)],
                debugDescription: "unknown field '\(unknown)'; expected one of \(known.sorted().joined(separator: ", "))"))
        }
    }
}

extension KeyedDecodingContainer {
    /// The value for `key`, or `fallback` when the key is absent.
    func value<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}
