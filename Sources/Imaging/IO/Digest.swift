#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CCrypto

/// SHA-256 digests (OpenSSL's libcrypto) for the provenance written into sidecars and manifests.
public enum Digest {
    /// The hex SHA-256 of `bytes`.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        out.withUnsafeMutableBufferPointer { o in
            _ = SHA256(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, o.baseAddress)
        }
        return out.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The hex SHA-256 of a file's bytes.
    public static func sha256(file url: URL) throws -> String {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { sha256($0) }
    }
}
