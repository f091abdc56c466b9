package accesstoken

import "crypto"

// PrivateKey lets tests sign with a published key under headers Issue
// would never write.
func PrivateKey(k *SigningKey) crypto.Signer { return k.private }
