//! Entropy from the CPU: RDSEED (straight from the conditioned entropy source), else RDRAND
//! (a DRBG reseeded from it), with retries and health checks. It fails closed: no instruction,
//! too many failed draws or output that looks stuck is an error, never a weaker fallback.
//!
//! [`HardwareRng`] implements `rand_core`'s `TryRng` + `TryCryptoRng`, which is what fcc-core
//! takes for the identity key and the batch-verification secret.

use core::fmt;

/// Why the RNG refused to produce bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RngError {
    /// Neither RDSEED nor RDRAND is advertised by CPUID (e.g. QEMU's default `qemu64` CPU:
    /// run with `-cpu max` or `-cpu host`).
    NoInstruction,
    /// The instruction kept reporting failure (carry clear) through every retry.
    Exhausted,
    /// The output failed a health check (a stuck value: 0, all ones, or a repeat).
    Unhealthy,
}

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RngError::NoInstruction => "no RDSEED or RDRAND on this CPU (QEMU: use -cpu max or -cpu host)",
            RngError::Exhausted => "the hardware RNG kept failing",
            RngError::Unhealthy => "the hardware RNG output failed its health check",
        })
    }
}

impl core::error::Error for RngError {}

/// Continuous health test over 64-bit draws: rejects the values a broken source is known to
/// stick at (0 and all ones: some AMD parts returned all ones with success after a resume) and
/// any value equal to the previous one (probability 2^-64 for a working source).
#[derive(Debug, Default)]
pub struct Health {
    last: Option<u64>,
}

impl Health {
    /// Whether `value` passes; remembers it for the next check.
    pub fn check(&mut self, value: u64) -> bool {
        let ok = value != 0 && value != u64::MAX && self.last != Some(value);
        self.last = Some(value);
        ok
    }
}

/// Draws from `draw` (one hardware attempt: `None` = the instruction reported failure) until
/// a value passes `health`, within the given retry budgets.
pub fn next_u64(
    draw: &mut impl FnMut() -> Option<u64>,
    health: &mut Health,
    attempts: u32,
    unhealthy_limit: u32,
) -> Result<u64, RngError> {
    let mut unhealthy = 0;
    for _ in 0..attempts {
        match draw() {
            None => core::hint::spin_loop(),
            Some(v) if health.check(v) => return Ok(v),
            Some(_) => {
                unhealthy += 1;
                if unhealthy >= unhealthy_limit {
                    return Err(RngError::Unhealthy);
                }
            }
        }
    }
    Err(RngError::Exhausted)
}

/// Draws per value before giving up: RDSEED may underflow under load and needs many retries;
/// Intel's guidance for RDRAND is 10.
const RDSEED_ATTEMPTS: u32 = 10_000;
const RDRAND_ATTEMPTS: u32 = 10;
/// Failed health checks in a row before the source is declared broken.
const UNHEALTHY_LIMIT: u32 = 3;
/// Draws of the start-up self test.
const SELF_TEST_DRAWS: usize = 16;

/// Which instruction feeds the RNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// RDSEED.
    Rdseed,
    /// RDRAND.
    Rdrand,
}

impl Source {
    /// Lower-case name for the console.
    pub fn name(self) -> &'static str {
        match self {
            Source::Rdseed => "rdseed",
            Source::Rdrand => "rdrand",
        }
    }
}

/// The CPU's RNG.
#[derive(Debug)]
pub struct HardwareRng {
    source: Source,
    health: Health,
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
impl HardwareRng {
    /// Picks RDSEED, else RDRAND, and runs a start-up self test (all draws distinct and healthy).
    pub fn new() -> Result<Self, RngError> {
        use core::arch::x86_64::{__cpuid, __cpuid_count};
        // Leaf 7 only if the maximum basic leaf says it exists.
        let has_rdseed = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ebx & (1 << 18) != 0;
        let has_rdrand = __cpuid(1).ecx & (1 << 30) != 0;
        let source = match (has_rdseed, has_rdrand) {
            (true, _) => Source::Rdseed,
            (false, true) => Source::Rdrand,
            (false, false) => return Err(RngError::NoInstruction),
        };
        let mut rng = HardwareRng { source, health: Health::default() };
        let mut seen = [0u64; SELF_TEST_DRAWS];
        for i in 0..SELF_TEST_DRAWS {
            let v = rng.next()?;
            if seen[..i].contains(&v) {
                return Err(RngError::Unhealthy);
            }
            seen[i] = v;
        }
        Ok(rng)
    }

    /// The instruction in use.
    pub fn source(&self) -> Source {
        self.source
    }

    fn next(&mut self) -> Result<u64, RngError> {
        match self.source {
            // SAFETY: `new` chose RDSEED only after CPUID advertised it.
            Source::Rdseed => next_u64(&mut || unsafe { rdseed() }, &mut self.health, RDSEED_ATTEMPTS, UNHEALTHY_LIMIT),
            // SAFETY: `new` chose RDRAND only after CPUID advertised it.
            Source::Rdrand => next_u64(&mut || unsafe { rdrand() }, &mut self.health, RDRAND_ATTEMPTS, UNHEALTHY_LIMIT),
        }
    }
}

/// One RDSEED attempt. Callers must have seen CPUID.(EAX=7,ECX=0):EBX[18] (hence `unsafe`
/// to call: the target feature).
#[cfg(any(target_os = "none", target_os = "uefi"))]
#[target_feature(enable = "rdseed")]
fn rdseed() -> Option<u64> {
    let mut v = 0u64;
    (core::arch::x86_64::_rdseed64_step(&mut v) == 1).then_some(v)
}

/// One RDRAND attempt. Callers must have seen CPUID.1:ECX[30].
#[cfg(any(target_os = "none", target_os = "uefi"))]
#[target_feature(enable = "rdrand")]
fn rdrand() -> Option<u64> {
    let mut v = 0u64;
    (core::arch::x86_64::_rdrand64_step(&mut v) == 1).then_some(v)
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
impl rand_core::TryRng for HardwareRng {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, RngError> {
        self.next().map(|v| v as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, RngError> {
        self.next()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RngError> {
        for chunk in dst.chunks_mut(8) {
            let v = self.next()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(any(target_os = "none", target_os = "uefi"))]
impl rand_core::TryCryptoRng for HardwareRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_rejects_stuck_values() {
        let mut h = Health::default();
        assert!(h.check(1));
        assert!(!h.check(1), "repeat");
        assert!(h.check(2));
        assert!(!h.check(0));
        assert!(!h.check(u64::MAX));
    }

    #[test]
    fn retries_then_fails_closed() {
        // Two failed attempts, then a value.
        let mut n = 0;
        let mut draw = || {
            n += 1;
            (n > 2).then_some(0x1234)
        };
        assert_eq!(next_u64(&mut draw, &mut Health::default(), 10, 3), Ok(0x1234));
        // Never succeeds.
        assert_eq!(next_u64(&mut || None, &mut Health::default(), 10, 3), Err(RngError::Exhausted));
        // Stuck at all ones (the AMD RDRAND failure mode).
        assert_eq!(next_u64(&mut || Some(u64::MAX), &mut Health::default(), 10, 3), Err(RngError::Unhealthy));
        // Stuck at one value: the first passes, the repeats do not.
        let mut h = Health::default();
        assert_eq!(next_u64(&mut || Some(7), &mut h, 10, 3), Ok(7));
        assert_eq!(next_u64(&mut || Some(7), &mut h, 10, 3), Err(RngError::Unhealthy));
    }
}
