//! The compute extensions compiled in, chosen by this crate's features: the guest builds its
//! registry from [`all`] (so the image's measurement covers exactly these), and the proxy, built
//! with every extension (`all`), takes its admission rules from the same declarations.
//! `fcc-image build --extensions a,b` turns on the features of the names given; `cargo xtask
//! extension new NAME` adds a new one here.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;

use fcc_extension::Extension;

/// The extensions compiled in, in a fixed order.
static ALL: &[&dyn Extension] = &[
    #[cfg(feature = "data-integrity")]
    &fcc_ext_data_integrity::EXTENSION,
    #[cfg(feature = "attested-query")]
    &fcc_ext_attested_query::EXTENSION,
    #[cfg(feature = "template")]
    &fcc_ext_template::EXTENSION,
    // new extensions: above this line (cargo xtask extension new)
];

/// The extensions compiled in, in a fixed order.
pub fn all() -> &'static [&'static dyn Extension] {
    ALL
}

/// The names of the extensions compiled in (the features that chose them), in [`all`]'s order.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|e| e.name()).collect()
}

/// The examples of the extension `name` (the devnet sends them; none for a name not compiled
/// in). Host-side: the guest never calls it, so they are not in the image.
pub fn examples(name: &str) -> Vec<fcc_extension::Example> {
    match name {
        #[cfg(feature = "data-integrity")]
        "data-integrity" => fcc_ext_data_integrity::examples(),
        #[cfg(feature = "attested-query")]
        "attested-query" => fcc_ext_attested_query::examples(),
        #[cfg(feature = "template")]
        "template" => fcc_ext_template::examples(),
        // new extensions' examples: above this line (cargo xtask extension new)
        _ => Vec::new(),
    }
}

/// The system operations and those of the extensions compiled in.
pub fn registry() -> Result<fcc_core::ops::Registry, fcc_core::Error> {
    fcc_core::ops::Registry::system().with_extensions(all())
}
