//! QEMU's firmware configuration device (fw_cfg) through its legacy I/O ports: selector 0x510
//! (16-bit write), data 0x511 (byte reads). The guest reads its memory map (`etc/e820`) and a
//! few `opt/fcc/...` settings from it. Everything it returns is host input: bounded, parsed
//! strictly, never trusted for security (on SEV-SNP/TDX it is unmeasured host data).

/// Key of the signature item ("QEMU").
const KEY_SIGNATURE: u16 = 0x0000;
/// Key of the file directory.
const KEY_FILE_DIR: u16 = 0x0019;
/// Bytes of one directory entry: size u32 BE, select u16 BE, reserved u16, name [u8; 56].
pub const DIR_ENTRY_LEN: usize = 64;
/// Bytes of a file name, NUL-padded.
const NAME_LEN: usize = 56;
/// Directory entries looked at, at most (QEMU has a few dozen): a hostile count cannot make a
/// lookup spin for long.
pub const MAX_FILES: u32 = 1024;

/// A file in the fw_cfg directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    /// Selector key.
    pub key: u16,
    /// Size in bytes, as the host claims.
    pub size: u32,
}

/// A file is larger than the buffer the guest reserves for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Parses one directory entry; returns the file if its name is `name`.
pub fn match_dir_entry(entry: &[u8; DIR_ENTRY_LEN], name: &str) -> Option<File> {
    let raw_name = &entry[8..8 + NAME_LEN];
    let len = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    if &raw_name[..len] != name.as_bytes() {
        return None;
    }
    let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
    let key = u16::from_be_bytes([entry[4], entry[5]]);
    Some(File { key, size })
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
pub use device::FwCfg;

#[cfg(any(target_os = "none", target_os = "uefi"))]
mod device {
    use x86_64::instructions::port::Port;

    use super::{DIR_ENTRY_LEN, File, KEY_FILE_DIR, KEY_SIGNATURE, MAX_FILES, TooLarge, match_dir_entry};
    use crate::config::Source;

    /// The `opt/fcc/...` files as settings.
    impl Source for FwCfg {
        fn get(&mut self, name: &'static str, buf: &mut [u8]) -> Option<Result<usize, ()>> {
            let file = self.find(name)?;
            Some(self.read(file, buf).map(<[u8]>::len).map_err(|_| ()))
        }
    }

    const SELECTOR_PORT: u16 = 0x510;
    const DATA_PORT: u16 = 0x511;

    /// The fw_cfg device, once its signature has been seen.
    #[derive(Debug)]
    pub struct FwCfg(());

    impl FwCfg {
        /// The device, if the signature reads "QEMU".
        pub fn probe() -> Option<Self> {
            let mut cfg = FwCfg(());
            cfg.select(KEY_SIGNATURE);
            let mut signature = [0u8; 4];
            cfg.read_bytes(&mut signature);
            (&signature == b"QEMU").then_some(cfg)
        }

        fn select(&mut self, key: u16) {
            let mut port = Port::<u16>::new(SELECTOR_PORT);
            // SAFETY: the fw_cfg selector register; selecting an item only changes which bytes the
            // data port returns. No memory is touched.
            unsafe { port.write(key) };
        }

        fn read_bytes(&mut self, buf: &mut [u8]) {
            let mut port = Port::<u8>::new(DATA_PORT);
            for b in buf {
                // SAFETY: the fw_cfg data register; reading returns the next byte of the selected
                // item (0 past its end). No memory is touched.
                *b = unsafe { port.read() };
            }
        }

        /// Looks `name` up in the file directory.
        pub fn find(&mut self, name: &str) -> Option<File> {
            self.select(KEY_FILE_DIR);
            let mut count = [0u8; 4];
            self.read_bytes(&mut count);
            let count = u32::from_be_bytes(count).min(MAX_FILES);
            let mut entry = [0u8; DIR_ENTRY_LEN];
            for _ in 0..count {
                self.read_bytes(&mut entry);
                if let Some(file) = match_dir_entry(&entry, name) {
                    return Some(file);
                }
            }
            None
        }

        /// Reads all of `file` into `buf`; refuses a file larger than `buf`.
        pub fn read<'a>(&mut self, file: File, buf: &'a mut [u8]) -> Result<&'a [u8], TooLarge> {
            let len = usize::try_from(file.size).ok().filter(|&len| len <= buf.len()).ok_or(TooLarge)?;
            self.select(file.key);
            self.read_bytes(&mut buf[..len]);
            Ok(&buf[..len])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u32, key: u16, name: &str) -> [u8; DIR_ENTRY_LEN] {
        let mut e = [0xa5u8; DIR_ENTRY_LEN];
        e[0..4].copy_from_slice(&size.to_be_bytes());
        e[4..6].copy_from_slice(&key.to_be_bytes());
        e[8..].fill(0);
        e[8..8 + name.len()].copy_from_slice(name.as_bytes());
        e
    }

    #[test]
    fn directory_entries() {
        let e = entry(40, 0x20, "etc/e820");
        assert_eq!(match_dir_entry(&e, "etc/e820"), Some(File { key: 0x20, size: 40 }));
        assert_eq!(match_dir_entry(&e, "etc/e82"), None);
        assert_eq!(match_dir_entry(&e, "etc/e8200"), None);
        // A name that fills all 56 bytes, no NUL.
        let mut e = entry(1, 2, "");
        e[8..].fill(b'a');
        assert_eq!(match_dir_entry(&e, &"a".repeat(56)), Some(File { key: 2, size: 1 }));
        assert_eq!(match_dir_entry(&e, &"a".repeat(55)), None);
    }
}
