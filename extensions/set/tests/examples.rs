//! Every extension of the workspace shows itself with examples (the devnet sends them on chain),
//! and each runs through the real engine to its expected output.

use fcc_extension::testing::{Outcome, TestTee};
use fcc_extension::{Example, Extension};

fn each() -> Vec<(&'static dyn Extension, Vec<Example>)> {
    vec![
        (&fcc_ext_data_integrity::EXTENSION, fcc_ext_data_integrity::examples()),
        (&fcc_ext_attested_query::EXTENSION, fcc_ext_attested_query::examples()),
        (&fcc_ext_template::EXTENSION, fcc_ext_template::examples()),
    ]
}

#[test]
fn every_example_runs_to_its_output() {
    for (extension, examples) in each() {
        assert!(!examples.is_empty(), "{} has no example", extension.name());
        let mut tee = TestTee::new(&[extension]).unwrap();
        for example in examples {
            let action = tee.instruction(&example.operation, &example.message, &[0, 1]);
            match tee.run(&action, &example.data) {
                Outcome::Output(out) => {
                    if let Some(want) = &example.output {
                        assert_eq!(&out, want, "{}: {}", extension.name(), example.what);
                    }
                }
                other => panic!("{}: {}: {other:?}", extension.name(), example.what),
            }
        }
    }
}
