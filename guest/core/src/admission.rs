//! The admission rule: the weight and cosigners an instruction needs before a TEE executes it.
//! One function for everyone who decides it — the guest (`Tee::authorise`), the proxy (when to
//! queue) and the `fcc` CLI (`instruction verify`) — so the three cannot disagree.
//!
//! ```text
//! rule        = the operation's threshold in bips (Flare's default 5000; F_FDC2: the request's
//!               thresholdBIPS, see ops::fdc2; a wallet restore: 7000, see ops::wallet; an
//!               extension's operation: its declared bips, never below 5000) and the
//!               instruction's cosignersThreshold (an extension may require a least one)
//! requirement = voters' weight > ceil(totalWeight · bips / 10000), and ≥ cosignersThreshold
//!               listed cosigners signed
//! ```
//! The rule depends only on the instruction; the requirement adds the cited policy's total
//! weight. An operation the registry does not serve, or a direct operation sent as an
//! instruction, has no rule: nothing can authorise it.

use crate::action::ActionKind;
use crate::error::Error;
use crate::instruction::InstructionData;
use crate::ops::{Handler, Registry};

/// What an instruction needs, before the policy is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The weight to exceed, in basis points of the policy's total weight.
    pub threshold_bips: u16,
    /// How many listed cosigners must sign.
    pub cosigners: u64,
}

/// What an instruction needs under a given policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// The rule it comes from.
    pub threshold_bips: u16,
    /// The voters' weight must be strictly greater than this.
    pub weight_above: u32,
    /// How many listed cosigners must sign.
    pub cosigners: u64,
}

/// The weight an instruction must exceed: `ceil(total · bips / 10000)`.
pub fn weight_threshold(total_weight: u32, bips: u16) -> u32 {
    // u64: a policy's total weight times 10000 can exceed u32.
    (u64::from(total_weight) * u64::from(bips)).div_ceil(10_000) as u32
}

impl Rule {
    /// The rule of `handler` (found for `instruction`'s operation) for `instruction`.
    pub fn of(handler: &Handler, instruction: &InstructionData) -> Result<Self, Error> {
        if handler.kind != ActionKind::Instruction {
            return Err(Error::Malformed { what: "action kind (instruction vs direct) for this operation" });
        }
        let threshold_bips = match handler.extension() {
            Some((_, operation)) => {
                if instruction.cosigners_threshold < operation.admission.min_cosigners {
                    return Err(Error::InsufficientCosigners {
                        count: u16::try_from(instruction.cosigners_threshold).unwrap_or(u16::MAX),
                        required: operation.admission.min_cosigners,
                    });
                }
                operation.admission.threshold_bips
            }
            None => (handler.threshold)(instruction)?,
        };
        Ok(Self { threshold_bips, cosigners: instruction.cosigners_threshold })
    }

    /// What the rule needs under a policy of `total_weight`.
    pub fn requirement(&self, total_weight: u32) -> Requirement {
        Requirement {
            threshold_bips: self.threshold_bips,
            weight_above: weight_threshold(total_weight, self.threshold_bips),
            cosigners: self.cosigners,
        }
    }
}

/// The admission rule for `instruction` among the operations `registry` serves.
pub fn rule(registry: &Registry, instruction: &InstructionData) -> Result<Rule, Error> {
    let d = instruction;
    let handler = registry
        .find(&d.op_type, &d.op_command)
        .ok_or(Error::UnknownOperation { op_type: d.op_type, op_command: d.op_command })?;
    Rule::of(handler, d)
}

impl Requirement {
    /// Whether `weight` of voters and `cosigners` signing cosigners meet it.
    pub fn is_met(&self, weight: u32, cosigners: u64) -> bool {
        self.check(weight, cosigners).is_ok()
    }

    /// As [`Requirement::is_met`], with the reason when not.
    pub fn check(&self, weight: u32, cosigners: u64) -> Result<(), Error> {
        if weight <= self.weight_above {
            return Err(Error::InsufficientWeight { weight, threshold: self.weight_above });
        }
        if cosigners < self.cosigners {
            let count = u16::try_from(cosigners).unwrap_or(u16::MAX);
            return Err(Error::InsufficientCosigners { count, required: self.cosigners });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op;

    #[test]
    fn the_bar_is_strictly_above_the_rounded_up_share() {
        assert_eq!(weight_threshold(100, 5000), 50);
        assert_eq!(weight_threshold(101, 5000), 51);
        // The largest total weight at the largest bips below 100%: no overflow, rounded up.
        assert_eq!(weight_threshold(65_535, 9999), 65_529);
        let r = Requirement { threshold_bips: 9999, weight_above: weight_threshold(65_535, 9999), cosigners: 0 };
        assert!(!r.is_met(65_529, 0) && r.is_met(65_530, 0) && r.is_met(65_535, 0));
        assert_eq!(weight_threshold(65_535, 10_000), 65_535, "100% cannot be exceeded");
        assert_eq!(weight_threshold(3, 6667), 3);
        assert_eq!(weight_threshold(u32::MAX, 10_000), u32::MAX);
        let r = Rule { threshold_bips: 5000, cosigners: 1 }.requirement(100);
        assert_eq!(r.weight_above, 50);
        assert!(!r.is_met(50, 1) && r.is_met(51, 1) && !r.is_met(51, 0));
        assert_eq!(r.check(50, 1), Err(Error::InsufficientWeight { weight: 50, threshold: 50 }));
        assert_eq!(r.check(51, 0), Err(Error::InsufficientCosigners { count: 0, required: 1 }));
    }

    #[test]
    fn a_restore_needs_more_than_seventy_percent_and_its_admins() {
        let d = InstructionData {
            op_type: op::F_WALLET,
            op_command: op::KEY_DATA_PROVIDER_RESTORE,
            cosigners_threshold: 2,
            ..Default::default()
        };
        let r = rule(&Registry::system(), &d).unwrap().requirement(1000);
        assert_eq!((r.threshold_bips, r.weight_above), (7000, 700));
        assert!(!r.is_met(700, 2) && r.is_met(701, 2) && !r.is_met(701, 1));
        let generate = InstructionData { op_command: op::KEY_GENERATE, ..d };
        assert_eq!(rule(&Registry::system(), &generate).unwrap().threshold_bips, 5000);
    }

    #[test]
    fn unknown_and_direct_operations_have_no_rule() {
        let registry = Registry::system();
        let mut d = InstructionData { op_type: op::name("NOPE"), op_command: op::name("NOPE"), ..Default::default() };
        assert!(matches!(rule(&registry, &d), Err(Error::UnknownOperation { .. })));
        (d.op_type, d.op_command) = (op::F_POLICY, op::UPDATE_POLICY);
        assert!(matches!(rule(&registry, &d), Err(Error::Malformed { .. })));
    }
}
