//! Redis Cluster key slots: CRC16 (XMODEM) of the key, or of its hash tag
//! (`{...}`), modulo 16384. Used for `-MOVED` redirections and CLUSTER
//! KEYSLOT.

/// Slots in a Redis Cluster.
pub const SLOTS: u16 = 16_384;

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// The slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| key[open + 1..].iter().position(|&b| b == b'}').map(|len| &key[open + 1..open + 1 + len]))
        .filter(|tag| !tag.is_empty());
    CRC16.checksum(tagged.unwrap_or(key)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `redis-cli CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"), "an empty first tag hashes the whole key");
        assert_eq!(key_slot(b"123456789"), 0x31C3, "the CRC16-XMODEM check value (below 16384)");
    }
}
