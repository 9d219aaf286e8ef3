//! Deterministic entropy sources for the crate's unit tests.

/// Fills with a pattern that changes on every draw (never a constant fill).
pub struct CountingRng(pub u8);

impl rand_core::TryRng for CountingRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for (i, b) in dst.iter_mut().enumerate() {
            *b = self.0 ^ (i as u8).wrapping_mul(31);
        }
        self.0 = self.0.wrapping_add(1);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for CountingRng {}

/// A broken source that always yields 0xff bytes.
pub struct StuckRng;

impl rand_core::TryRng for StuckRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(u32::MAX)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(u64::MAX)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(0xff);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for StuckRng {}
