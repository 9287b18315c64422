//! The DfE's statutory XML returns that agencies already export — the Common Transfer File
//! from every school MIS, the children in need census from every social-care system —
//! read as a stream, checked with the element path of every problem, and mapped onto the
//! federation's vocabulary (`schemas`).
