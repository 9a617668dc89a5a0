//! `VARSCOPE_DEFAULT_DEVICE` overrides the default device (its own test binary: it sets
//! the process environment).

use varscope_core::Graph;
use varscope_gpu::{GpuError, Session, SessionOptions, DEFAULT_DEVICE_ENV};

#[test]
fn environment_overrides_the_default_device() {
    let g = Graph::new();
    let v = g.get_variable("v").shape([4u64]).get().unwrap().variable().unwrap().clone();
    std::env::set_var(DEFAULT_DEVICE_ENV, "/device:CPU:0");
    let s = Session::new(&g).unwrap();
    assert_eq!(s.default_device().name, "/cpu:0");
    s.global_variables_initializer().unwrap();
    assert_eq!(s.variable_device(&v).unwrap(), "/cpu:0");
    drop(s);
    std::env::set_var(DEFAULT_DEVICE_ENV, "/gpu:77");
    let e = Session::new(&g).unwrap_err();
    assert!(matches!(e, GpuError::UnknownDevice { .. }), "{e:?}");
    assert!(e.to_string().contains("/gpu:77"));
    // Options win over the environment.
    let s = Session::with_options(&g, SessionOptions::default().default_device("/cpu:0")).unwrap();
    assert_eq!(s.default_device().name, "/cpu:0");
    std::env::remove_var(DEFAULT_DEVICE_ENV);
}
