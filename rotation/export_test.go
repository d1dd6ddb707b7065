package rotation

// SetNewToken makes newToken the source of the ClientRequestToken of each
// rotation that Rotate starts, for a Rotator built from o. Users cannot
// set it: Rotate always makes a random UUID version 4.
func SetNewToken(o *Options, newToken func() (string, error)) { o.newToken = newToken }
