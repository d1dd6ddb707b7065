package awsemu

import (
	"crypto/sha256"
	"maps"
	"slices"
	"time"
)

// secret is one stored secret. Every field is guarded by secretsManager.mu.
type secret struct {
	arn, name   string
	description string
	kmsKeyID    string // resolved key ARN when the caller chose a key; "" = aws/secretsmanager
	tags        []tag
	policy      string
	created     time.Time
	seq         uint64

	versions map[string]*version

	lastChanged  time.Time
	lastAccessed time.Time // a UTC day
	deletedDate  time.Time // when the secret will be purged; zero = not scheduled

	rotationEnabled   *bool // nil until rotation is first configured
	rotationLambdaARN string
	rotationRules     *rotationRules
	lastRotated       time.Time
	nextRotation      time.Time

	repl replicaInfo
}

// version is one immutable value of a secret and the labels on it.
type version struct {
	id           string
	stages       []string
	hasValue     bool
	binary       bool
	sealed       []byte   // the value as the key service sealed it
	digest       [32]byte // of the plaintext, to recognise an idempotent retry
	keyARN       string
	customKey    bool // sealed under a key the caller chose
	created      time.Time
	lastAccessed time.Time
	seq          uint64
}

type tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// secretValue is a plaintext value as a request carries it.
type secretValue struct {
	str    *string
	binary []byte
}

func (v secretValue) present() bool { return v.str != nil || v.binary != nil }

func (v secretValue) bytes() []byte {
	if v.str != nil {
		return []byte(*v.str)
	}
	return v.binary
}

func (v secretValue) digest() [32]byte {
	kind := []byte{'s'}
	if v.str == nil {
		kind[0] = 'b'
	}
	return sha256.Sum256(append(kind, v.bytes()...))
}

// validate applies the checks every write of a value shares.
func (v secretValue) validate() *apiError {
	if v.str != nil && v.binary != nil {
		return errorf("InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if v.str != nil && len(*v.str) > maxSecretValue {
		return errValidation("secretString", "Member must have length less than or equal to 65536")
	}
	if len(v.binary) > maxSecretValue {
		return errValidation("secretBinary", "Member must have length less than or equal to 65536")
	}
	return nil
}

func (v *version) has(stage string) bool { return slices.Contains(v.stages, stage) }

func (v *version) drop(stage string) {
	v.stages = slices.DeleteFunc(v.stages, func(s string) bool { return s == stage })
}

func (v *version) add(stage string) {
	if !v.has(stage) {
		v.stages = append(v.stages, stage)
	}
}

// holder returns the version carrying stage, or nil.
func (s *secret) holder(stage string) *version {
	for _, v := range s.versions {
		if v.has(stage) {
			return v
		}
	}
	return nil
}

// attach puts stage on v, taking it off whichever version had it: a label
// sits on one version at a time. Moving AWSCURRENT away from a version
// leaves AWSPREVIOUS on that version.
func (s *secret) attach(v *version, stage string) {
	old := s.holder(stage)
	if old == v {
		return
	}
	if old != nil {
		old.drop(stage)
	}
	v.add(stage)
	if stage == stageCurrent && old != nil {
		if prev := s.holder(stagePrevious); prev != nil {
			prev.drop(stagePrevious)
		}
		old.add(stagePrevious)
	}
}

// versionsByAge returns the versions oldest first.
func (s *secret) versionsByAge() []*version {
	vs := slices.Collect(maps.Values(s.versions))
	slices.SortFunc(vs, func(a, b *version) int { return int(a.seq) - int(b.seq) })
	return vs
}

// deprecatedMinAge is how long the service keeps an unlabelled version
// before it may remove it.
const deprecatedMinAge = 24 * time.Hour

// pruneDeprecated forgets the oldest unlabelled versions beyond the
// service's limit of maxDeprecated, as Secrets Manager does, but never one
// created less than 24 hours before now. It reports whether the secret is
// within the limit afterwards.
func (s *secret) pruneDeprecated(now time.Time) bool {
	var deprecated []*version
	for _, v := range s.versionsByAge() {
		if len(v.stages) == 0 {
			deprecated = append(deprecated, v)
		}
	}
	excess := len(deprecated) - maxDeprecated
	for _, v := range deprecated {
		if excess <= 0 {
			break
		}
		if now.Sub(v.created) >= deprecatedMinAge {
			delete(s.versions, v.id)
			excess--
		}
	}
	return excess <= 0
}

// snapshot records the secret's versions and their labels and returns a
// function that puts them back, so a refused write leaves no trace.
func (s *secret) snapshot() (undo func()) {
	versions := maps.Clone(s.versions)
	saved := make(map[*version]version, len(versions))
	for _, v := range versions {
		c := *v
		c.stages = slices.Clone(v.stages)
		saved[v] = c
	}
	return func() {
		s.versions = versions
		for v, c := range saved {
			*v = c
		}
	}
}

// stageMap maps each labelled version to its labels.
func (s *secret) stageMap() map[string][]string {
	out := make(map[string][]string, len(s.versions))
	for id, v := range s.versions {
		if len(v.stages) > 0 {
			out[id] = slices.Clone(v.stages)
		}
	}
	return out
}

// secretMeta is what DescribeSecret and each ListSecrets entry share.
type secretMeta struct {
	ARN               string         `json:"ARN"`
	Name              string         `json:"Name"`
	Description       string         `json:"Description,omitempty"`
	KmsKeyID          string         `json:"KmsKeyId,omitempty"`
	RotationEnabled   *bool          `json:"RotationEnabled,omitempty"`
	RotationLambdaARN string         `json:"RotationLambdaARN,omitempty"`
	RotationRules     *rotationRules `json:"RotationRules,omitempty"`
	LastRotatedDate   *float64       `json:"LastRotatedDate,omitempty"`
	LastChangedDate   *float64       `json:"LastChangedDate,omitempty"`
	LastAccessedDate  *float64       `json:"LastAccessedDate,omitempty"`
	DeletedDate       *float64       `json:"DeletedDate,omitempty"`
	NextRotationDate  *float64       `json:"NextRotationDate,omitempty"`
	Tags              []tag          `json:"Tags,omitempty"`
	CreatedDate       *float64       `json:"CreatedDate,omitempty"`
	PrimaryRegion     string         `json:"PrimaryRegion,omitempty"`
}

func (s *secret) meta() secretMeta {
	var rules *rotationRules
	if s.rotationRules != nil {
		r := *s.rotationRules
		rules = &r
	}
	var enabled *bool
	if s.rotationEnabled != nil {
		e := *s.rotationEnabled
		enabled = &e
	}
	return secretMeta{
		ARN:               s.arn,
		Name:              s.name,
		Description:       s.description,
		KmsKeyID:          s.kmsKeyID,
		RotationEnabled:   enabled,
		RotationLambdaARN: s.rotationLambdaARN,
		RotationRules:     rules,
		LastRotatedDate:   date(s.lastRotated),
		LastChangedDate:   date(s.lastChanged),
		LastAccessedDate:  date(s.lastAccessed),
		DeletedDate:       date(s.deletedDate),
		NextRotationDate:  date(s.nextRotation),
		Tags:              slices.Clone(s.tags),
		CreatedDate:       date(s.created),
		PrimaryRegion:     s.repl.primaryRegion,
	}
}

// secretRef is the ARN and Name pair most responses carry.
type secretRef struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

func (s *secret) ref() secretRef { return secretRef{ARN: s.arn, Name: s.name} }
