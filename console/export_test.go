package console

// CheckPassword exports checkPassword to the tests.
var CheckPassword = checkPassword
