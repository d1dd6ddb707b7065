package awsemu

import (
	crand "crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"strings"
)

const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	punctChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

type randomPasswordInput struct {
	PasswordLength          *int64
	ExcludeCharacters       string
	ExcludeNumbers          bool
	ExcludePunctuation      bool
	ExcludeUppercase        bool
	ExcludeLowercase        bool
	IncludeSpace            bool
	RequireEachIncludedType *bool
}

type randomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

// cryptoSource is a math/rand/v2 Source reading crypto/rand, so that
// IntN and Shuffle give unbiased, unpredictable choices.
type cryptoSource struct{}

func (cryptoSource) Uint64() uint64 {
	var b [8]byte
	crand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	return binary.LittleEndian.Uint64(b[:])
}

// getRandomPassword draws a password of PasswordLength (1..4096, default
// 32) characters from the included classes minus ExcludeCharacters. With
// RequireEachIncludedType (default true) every included class among
// lowercase, uppercase, digits and punctuation appears at least once.
func getRandomPassword(body []byte) (any, error) {
	var in randomPasswordInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	n := int64(32)
	if in.PasswordLength != nil {
		n = *in.PasswordLength
		if n < 1 || n > 4096 {
			return nil, errValidation("passwordLength", "Member must have value between 1 and 4096")
		}
	}
	keep := func(set string) string {
		return strings.Map(func(r rune) rune {
			if strings.ContainsRune(in.ExcludeCharacters, r) {
				return -1
			}
			return r
		}, set)
	}
	var classes []string
	for _, c := range []struct {
		chars    string
		excluded bool
	}{{lowerChars, in.ExcludeLowercase}, {upperChars, in.ExcludeUppercase}, {digitChars, in.ExcludeNumbers}, {punctChars, in.ExcludePunctuation}} {
		if s := keep(c.chars); !c.excluded && s != "" {
			classes = append(classes, s)
		}
	}
	pool := strings.Join(classes, "")
	if in.IncludeSpace && !strings.Contains(in.ExcludeCharacters, " ") {
		pool += " "
	}
	if pool == "" {
		return nil, errorf("InvalidParameterException", "The password can't be generated because every character was excluded.")
	}
	require := in.RequireEachIncludedType == nil || *in.RequireEachIncludedType
	if require && int(n) < len(classes) {
		return nil, errorf("InvalidParameterException", "Password length is too short based on the required types.")
	}
	rng := mrand.New(cryptoSource{})
	pw := make([]byte, n)
	for i := range pw {
		pw[i] = pool[rng.IntN(len(pool))]
	}
	if require {
		// One character of each class goes to its own random position.
		pos := rng.Perm(int(n))
		for i, class := range classes {
			pw[pos[i]] = class[rng.IntN(len(class))]
		}
	}
	return randomPasswordOutput{RandomPassword: string(pw)}, nil
}
