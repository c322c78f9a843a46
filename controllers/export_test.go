package controllers

// RunStateFor lets the external suite (package controllers_test) build facts
// the same way the unit tests do.
var RunStateFor = runStateFor
