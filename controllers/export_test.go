package controllers

// RunStateFor lets the external suite (package controllers_test) build facts
// the same way the unit tests do.
var RunStateFor = runStateFor

// ConditionTypes are the conditions the controller owns.
var ConditionTypes = conditionTypes
