package matrix

import "errors"

// ErrEncrypted: the conversation's room is end-to-end encrypted, which the
// client bot does not support; nothing is sent there. Deliveries to such a
// room fail with it (wrapped with bridge.ErrPermanent) and Health reports it.
var ErrEncrypted = errors.New("room is end-to-end encrypted, which chatbridge does not support")

// ErrWrongAccount: the access token belongs to another user than the
// configured user id.
var ErrWrongAccount = errors.New("access token belongs to another user")
