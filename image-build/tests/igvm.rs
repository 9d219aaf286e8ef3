//! Cross-check: the IGVM form of the guest ROM, measured by the `igvm` crate's own SNP and TDX
//! measurement functions, gives our SNP launch digest and our TDX MRTD (upstream page-by-page
//! order). The file goes through the crate's serialiser and parser first, so what is measured is
//! what a VMM would read.
//!
//! The one expected difference: for page data without data (SEC_MEM) the crate measures NORMAL
//! pages of zeros while QEMU launches ZERO pages; `snp::ZeroPages` names the two conventions and
//! both are checked.

mod common;

use common::{Snp, gpa, image};
use fcc_image::igvm::{self, Params};
use fcc_image::ovmf;
use fcc_image::snp::{self, ZeroPages};
use fcc_image::tdx::{self, Order};

fn check(image: &[u8], vcpus: u32, cpu_signature: u32) {
    let tables = ovmf::parse(image).unwrap();
    let p = Params { vcpus, cpu_signature, guest_features: snp::DEFAULT_GUEST_FEATURES };
    let bytes = igvm::to_bytes(&igvm::build(image, &tables, &p).unwrap()).unwrap();
    let file = igvm::parse(&bytes).unwrap();
    let label = format!("{vcpus} vCPUs, signature {cpu_signature:#x}");

    let crate_snp = igvm::crate_snp_digest(&file).unwrap();
    let ours_crate_convention =
        snp::launch_digest_with(image, &tables, vcpus, cpu_signature, p.guest_features, ZeroPages::NormalZeroed)
            .unwrap();
    assert_eq!(hex::encode(crate_snp), hex::encode(ours_crate_convention), "SNP, {label}");
    // QEMU's convention (ZERO pages) is a different digest whenever there are data-less pages.
    let ours_qemu = snp::launch_digest(image, &tables, vcpus, cpu_signature, p.guest_features).unwrap();
    assert_ne!(crate_snp, ours_qemu, "the SEC_MEM convention should show, {label}");

    let crate_mrtd = igvm::crate_mrtd(&file).unwrap();
    assert_eq!(hex::encode(crate_mrtd), hex::encode(tdx::mrtd(image, &tables, Order::PageByPage).unwrap()), "{label}");
}

#[test]
fn guest_rom_measures_the_same_as_the_igvm_crate() {
    let (_, rom) = common::guest_rom();
    for vcpu_type in ["EPYC-Milan", "EPYC-Genoa", "EPYC-Turin"] {
        for vcpus in [1, 2, 8, 64] {
            check(&rom, vcpus, snp::cpu_type_signature(vcpu_type).unwrap());
        }
    }
}

#[test]
fn hand_made_image_with_every_section_type() {
    const PAGES: usize = 4;
    let snp: Vec<Snp> = vec![(0x10_0000, 0x3000, 1), (0x20_0000, 0x1000, 2), (0x20_1000, 0x1000, 3)];
    let rom = gpa(PAGES, 0);
    let tdvf = vec![
        (0, (PAGES * 4096) as u32, rom, (PAGES * 4096) as u64, 0, 1),
        (0, 0, 0x80_0000, 0x2000, 2, 0),
        (0, 0, 0x90_0000, 0x1000, 3, 0),
    ];
    let img = image(PAGES, Some(0xffff_f000), Some(&snp), Some(&tdvf), &[]);
    check(&img, 1, 0xa00f11);
    check(&img, 3, 0xa10f10);
}

#[test]
fn a_changed_page_changes_both_measurements() {
    const PAGES: usize = 4;
    let snp: Vec<Snp> = vec![(0x10_0000, 0x1000, 1), (0x20_0000, 0x1000, 2), (0x20_1000, 0x1000, 3)];
    let rom = gpa(PAGES, 0);
    let tdvf = vec![(0, (PAGES * 4096) as u32, rom, (PAGES * 4096) as u64, 0, 1), (0, 0, 0x90_0000, 0x1000, 3, 0)];
    let img = image(PAGES, Some(0xffff_f000), Some(&snp), Some(&tdvf), &[]);
    let p = Params { vcpus: 2, cpu_signature: 0xa00f11, guest_features: 1 };
    let measure = |img: &[u8]| {
        let file = igvm::parse(&igvm::to_bytes(&igvm::build(img, &ovmf::parse(img).unwrap(), &p).unwrap()).unwrap());
        let file = file.unwrap();
        (igvm::crate_snp_digest(&file).unwrap(), igvm::crate_mrtd(&file).unwrap())
    };
    let mut changed = img.clone();
    changed[100] ^= 1;
    let (a, b) = (measure(&img), measure(&changed));
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn the_igvm_form_needs_the_rom_as_its_measured_tdx_section() {
    const PAGES: usize = 4;
    let snp: Vec<Snp> = vec![(0x10_0000, 0x1000, 1), (0x20_0000, 0x1000, 2), (0x20_1000, 0x1000, 3)];
    let rom = gpa(PAGES, 0);
    // The BFV covers only half the ROM.
    let tdvf = vec![(0, 0x2000, rom, 0x2000, 0, 1), (0, 0, 0x90_0000, 0x1000, 3, 0)];
    let img = image(PAGES, Some(0xffff_f000), Some(&snp), Some(&tdvf), &[]);
    let p = Params { vcpus: 1, cpu_signature: 0xa00f11, guest_features: 1 };
    let err = igvm::build(&img, &ovmf::parse(&img).unwrap(), &p).unwrap_err();
    assert!(err.to_string().contains("MR.EXTEND"), "{err}");
    let no_snp = image(PAGES, None, None, Some(&tdvf), &[]);
    let err = igvm::build(&no_snp, &ovmf::parse(&no_snp).unwrap(), &p).unwrap_err();
    assert!(err.to_string().contains("SEV metadata"), "{err}");
}
