package awsemu

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// This file emulates Secrets Manager replication: a primary secret in one
// Region and read-only replicas of it, same name and same ARN suffix, in
// others. Every change to the primary (new versions, stage moves,
// description, tags, policy, rotation configuration) is queued for each
// replica as a snapshot of the primary's state, due after the server's
// replication delay, and applied when any request reaches the secret
// stores at or after that time by the server's clock: no goroutine or
// timer is involved. Values are re-encrypted under the replica Region's
// key; a replica whose key is missing or unusable, or whose name is taken
// in its Region, shows Status Failed.

// Replication statuses as ReplicationStatus reports them.
const (
	replInProgress = "InProgress"
	replInSync     = "InSync"
	replFailed     = "Failed"
)

// replicaInfo is a secret's part in replication; guarded by smMu.
type replicaInfo struct {
	primaryRegion string           // "" = not replicated
	isReplica     bool             // a read-only copy of the secret in primaryRegion
	replicas      []*replicaStatus // on a primary, in the order added
}

// replicaStatus is the primary's record of one replica.
type replicaStatus struct {
	region      string
	kmsKeyID    string // as the caller gave it; "" = aws/secretsmanager
	status      string
	message     string
	pending     int    // queued events not yet applied
	fingerprint string // of the primary's state last queued
	force       bool   // ForceOverwriteReplicaSecret was set when it was added
}

// replication is the server's queue of changes on their way to replicas.
type replication struct {
	delay time.Duration
	queue []*replicationEvent // due times never decrease while delay and clock do not go back
}

type replicationEvent struct {
	due     time.Time
	primary *secret
	to      *replicaStatus
	snap    *secretSnapshot
}

// secretSnapshot is the replicated state of a primary at one moment.
type secretSnapshot struct {
	name, arnRest     string // arnRest is the ARN after "secret:"
	err               string // why the primary's values could not be read
	description       string
	policy            string
	tags              []tag
	rotationEnabled   *bool
	rotationLambdaARN string
	rotationRules     *rotationRules
	lastRotated       time.Time
	nextRotation      time.Time
	lastChanged       time.Time
	versions          []versionSnapshot // oldest first
}

type versionSnapshot struct {
	id       string
	stages   []string
	hasValue bool
	binary   bool
	plain    []byte
	digest   [32]byte
	created  time.Time
}

// SetReplicationDelay sets how long, by the server's clock, changes to
// primary secrets take to reach their replicas, for changes made after
// the call. Zero replicates within the request that made the change.
// Changes reach replicas in the order they were made: after a shorter
// delay is set, a new change still waits for those queued before it.
func (s *Server) SetReplicationDelay(d time.Duration) {
	s.smMu.Lock()
	defer s.smMu.Unlock()
	s.replicas.delay = d
}

// fingerprint identifies the replicated state of sec without reading values.
func (sec *secret) fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q|%q|%v|%v|%q|%v|%v|%v|%v|", sec.description, sec.policy, sec.tags, sec.rotationEnabled != nil && *sec.rotationEnabled,
		sec.rotationLambdaARN, sec.rotationRules, sec.lastRotated.UnixNano(), sec.nextRotation.UnixNano(), sec.lastChanged.UnixNano())
	for _, v := range sec.versionsByAge() {
		fmt.Fprintf(&b, "%s%v%v;", v.id, v.stages, v.hasValue)
	}
	return b.String()
}

// snapshot captures sec's replicated state, with its values in plaintext.
// m.mu must be held.
func (m *secretsManager) snapshot(sec *secret) *secretSnapshot {
	snap := &secretSnapshot{
		name:              sec.name,
		arnRest:           strings.TrimPrefix(sec.arn, m.arnPrefix()),
		description:       sec.description,
		policy:            sec.policy,
		tags:              slices.Clone(sec.tags),
		rotationLambdaARN: sec.rotationLambdaARN,
		lastRotated:       sec.lastRotated,
		nextRotation:      sec.nextRotation,
		lastChanged:       sec.lastChanged,
	}
	if sec.rotationEnabled != nil {
		e := *sec.rotationEnabled
		snap.rotationEnabled = &e
	}
	if sec.rotationRules != nil {
		r := *sec.rotationRules
		snap.rotationRules = &r
	}
	for _, v := range sec.versionsByAge() {
		vs := versionSnapshot{id: v.id, stages: slices.Clone(v.stages), hasValue: v.hasValue, binary: v.binary, digest: v.digest, created: v.created}
		if v.hasValue {
			plain, err := m.kms.openSecret(v.keyARN, sec.arn, v.sealed)
			if err != nil {
				snap.err = reason(err)
				return snap
			}
			vs.plain = plain
		}
		snap.versions = append(snap.versions, vs)
	}
	return snap
}

// replicateLocked queues the current state of every primary secret of m's
// Region that changed since it was last queued, then applies what is due.
// m.mu must be held.
func (m *secretsManager) replicateLocked() {
	for _, sec := range m.byName {
		if sec.repl.isReplica || len(sec.repl.replicas) == 0 {
			continue
		}
		fp := sec.fingerprint()
		var snap *secretSnapshot
		for _, rs := range sec.repl.replicas {
			if rs.fingerprint == fp {
				continue
			}
			if snap == nil {
				snap = m.snapshot(sec)
			}
			rs.fingerprint = fp
			m.srv.enqueueLocked(sec, rs, snap)
		}
	}
	m.srv.applyReplicationLocked()
}

// enqueueLocked queues snap for the replica rs of primary. smMu must be held.
func (s *Server) enqueueLocked(primary *secret, rs *replicaStatus, snap *secretSnapshot) {
	rs.pending++
	rs.status, rs.message = replInProgress, ""
	s.replicas.queue = append(s.replicas.queue, &replicationEvent{due: s.now().Add(s.replicas.delay), primary: primary, to: rs, snap: snap})
}

// applyReplicationLocked applies the queued events that are due, oldest
// first. smMu must be held.
func (s *Server) applyReplicationLocked() {
	q := s.replicas.queue
	if len(q) == 0 {
		return
	}
	now := s.now()
	n := 0
	for n < len(q) && !q[n].due.After(now) {
		ev := q[n]
		q[n] = nil
		n++
		if !slices.Contains(ev.primary.repl.replicas, ev.to) {
			continue // the replica was removed or stopped meanwhile
		}
		ev.to.pending--
		if msg := s.applySnapshot(ev); msg != "" {
			ev.to.status, ev.to.message = replFailed, msg
			ev.to.fingerprint = "" // the primary's next change tries again
		} else if ev.to.pending == 0 && ev.to.status != replFailed {
			ev.to.status, ev.to.message = replInSync, "Replication succeeded"
		}
	}
	s.replicas.queue = slices.Delete(q, 0, n)
}

// applySnapshot makes the replica ev names match ev.snap, creating it on
// first use, and returns why it could not ("" on success). Nothing changes
// on failure. smMu must be held.
func (s *Server) applySnapshot(ev *replicationEvent) string {
	snap := ev.snap
	if snap.err != "" {
		return snap.err
	}
	target := s.regionState(ev.to.region).sm
	arn := target.arnPrefix() + snap.arnRest
	rep := target.byName[snap.name]
	if rep != nil && target.purgeIfExpired(rep) {
		rep = nil
	}
	if rep != nil && (!rep.repl.isReplica || rep.arn != arn) {
		if !ev.to.force {
			return "Secret with this name already exists in this region"
		}
		target.remove(rep) // ForceOverwriteReplicaSecret
		rep = nil
	}
	keyARN := ""
	if ev.to.kmsKeyID != "" {
		k, err := target.kms.resolveKey(ev.to.kmsKeyID)
		if err != nil {
			return reason(err)
		}
		keyARN = k
	}
	old := map[string]*version{}
	if rep != nil {
		old = rep.versions
	}
	versions := make(map[string]*version, len(snap.versions))
	for _, vs := range snap.versions {
		v := &version{id: vs.id, stages: slices.Clone(vs.stages), hasValue: vs.hasValue, binary: vs.binary, digest: vs.digest, created: vs.created}
		if o := old[vs.id]; o != nil && o.hasValue == vs.hasValue && o.digest == vs.digest {
			v.sealed, v.keyARN, v.customKey, v.lastAccessed, v.seq = o.sealed, o.keyARN, o.customKey, o.lastAccessed, o.seq
		} else {
			v.seq = target.nextSeq()
			if vs.hasValue {
				k, sealed, err := target.kms.sealSecret(keyARN, arn, vs.plain)
				if err != nil {
					return reason(err)
				}
				v.keyARN, v.sealed, v.customKey = k, sealed, keyARN != ""
			}
		}
		versions[v.id] = v
	}
	if rep == nil {
		rep = &secret{arn: arn, name: snap.name, created: s.now(), seq: target.nextSeq()}
		rep.repl = replicaInfo{primaryRegion: ev.primary.repl.primaryRegion, isReplica: true}
		target.byName[rep.name] = rep
		target.byARN[rep.arn] = rep
	}
	rep.versions = versions
	rep.kmsKeyID = keyARN
	rep.description, rep.policy, rep.tags = snap.description, snap.policy, slices.Clone(snap.tags)
	rep.rotationEnabled, rep.rotationLambdaARN, rep.rotationRules = snap.rotationEnabled, snap.rotationLambdaARN, snap.rotationRules
	rep.lastRotated, rep.nextRotation, rep.lastChanged = snap.lastRotated, snap.nextRotation, snap.lastChanged
	return ""
}

// regionPattern is the service model's constraint on a replica Region.
var regionPattern = regexp.MustCompile(`^([a-z]+-)+\d+$`)

// replicaRegionInput is one entry of AddReplicaRegions.
type replicaRegionInput struct {
	Region   string
	KmsKeyID string `json:"KmsKeyId"`
}

// replicationStatusOutput is one entry of ReplicationStatus.
type replicationStatusOutput struct {
	Region           string   `json:"Region"`
	KmsKeyID         string   `json:"KmsKeyId,omitempty"`
	Status           string   `json:"Status"`
	StatusMessage    string   `json:"StatusMessage,omitempty"`
	LastAccessedDate *float64 `json:"LastAccessedDate,omitempty"`
}

// validateReplicaRegions checks AddReplicaRegions for a primary in region.
func validateReplicaRegions(region string, add []replicaRegionInput) *apiError {
	seen := map[string]bool{}
	for i, r := range add {
		if r.Region == "" {
			return errRequired(fmt.Sprintf("addReplicaRegions.%d.member.region", i+1))
		}
		if !regionPattern.MatchString(r.Region) {
			return errValidation(fmt.Sprintf("addReplicaRegions.%d.member.region", i+1), `Member must satisfy regular expression pattern: ^([a-z]+-)+\d+$`)
		}
		if r.Region == region {
			return errorf("InvalidParameterException", "Invalid replica region.")
		}
		if seen[r.Region] {
			return errorf("InvalidParameterException", "Duplicate replica region: %s.", r.Region)
		}
		seen[r.Region] = true
	}
	return nil
}

// addReplicas makes sec a primary with replicas in the Regions of add that
// it does not replicate to yet, and replicates to them. m.mu must be held.
func (m *secretsManager) addReplicas(sec *secret, add []replicaRegionInput, force bool) {
	if len(add) == 0 {
		return
	}
	sec.repl.primaryRegion = m.region
	for _, r := range add {
		if sec.replica(r.Region) != nil {
			continue
		}
		sec.repl.replicas = append(sec.repl.replicas, &replicaStatus{region: r.Region, kmsKeyID: r.KmsKeyID, status: replInProgress, force: force})
	}
	m.replicateLocked()
}

// replica returns sec's record of its replica in region, or nil.
func (sec *secret) replica(region string) *replicaStatus {
	for _, rs := range sec.repl.replicas {
		if rs.region == region {
			return rs
		}
	}
	return nil
}

// replicaIn returns the replica of the primary sec (of m's Region) in
// region and that Region's store, or a nil secret when there is none: a
// secret of the same name there that is standalone or another primary's
// replica is not sec's. smMu must be held.
func (m *secretsManager) replicaIn(sec *secret, region string) (*secretsManager, *secret) {
	target := m.srv.regionState(region).sm
	rep := target.byName[sec.name]
	if rep == nil || !rep.repl.isReplica || rep.arn != target.arnPrefix()+strings.TrimPrefix(sec.arn, m.arnPrefix()) {
		return target, nil
	}
	return target, rep
}

// replicationStatus renders sec's replicas for a response. smMu must be held.
func (m *secretsManager) replicationStatus(sec *secret) []replicationStatusOutput {
	if len(sec.repl.replicas) == 0 {
		return nil
	}
	out := make([]replicationStatusOutput, 0, len(sec.repl.replicas))
	for _, rs := range sec.repl.replicas {
		o := replicationStatusOutput{Region: rs.region, KmsKeyID: rs.kmsKeyID, Status: rs.status, StatusMessage: rs.message}
		if o.KmsKeyID == "" {
			o.KmsKeyID = managedAlias
		}
		if _, rep := m.replicaIn(sec, rs.region); rep != nil {
			o.LastAccessedDate = date(rep.lastAccessed)
		}
		out = append(out, o)
	}
	return out
}

type replicateInput struct {
	SecretID                    string `json:"SecretId"`
	AddReplicaRegions           []replicaRegionInput
	ForceOverwriteReplicaSecret bool
}

type replicationOutput struct {
	ARN               string                    `json:"ARN"`
	ReplicationStatus []replicationStatusOutput `json:"ReplicationStatus,omitempty"`
}

// replicateSecretToRegions adds replica Regions to a secret, making it a
// primary if it was not one.
func (m *secretsManager) replicateSecretToRegions(body []byte) (any, error) {
	var in replicateInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.AddReplicaRegions) == 0 {
		return nil, errRequired("addReplicaRegions")
	}
	if err := validateReplicaRegions(m.region, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	m.addReplicas(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret)
	return replicationOutput{ARN: sec.arn, ReplicationStatus: m.replicationStatus(sec)}, nil
}

type removeRegionsInput struct {
	SecretID             string `json:"SecretId"`
	RemoveReplicaRegions []string
}

// removeRegionsFromReplication deletes the replicas in the given Regions.
// A secret left without replicas is no longer replicated.
func (m *secretsManager) removeRegionsFromReplication(body []byte) (any, error) {
	var in removeRegionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.RemoveReplicaRegions) == 0 {
		return nil, errRequired("removeReplicaRegions")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	for _, region := range in.RemoveReplicaRegions {
		rs := sec.replica(region)
		if rs == nil {
			return nil, errorf("InvalidParameterException", "Region %s is not a replica Region of this secret.", region)
		}
	}
	for _, region := range in.RemoveReplicaRegions {
		rs := sec.replica(region)
		sec.repl.replicas = slices.DeleteFunc(sec.repl.replicas, func(r *replicaStatus) bool { return r == rs })
		if target, rep := m.replicaIn(sec, region); rep != nil {
			target.remove(rep)
		}
	}
	if len(sec.repl.replicas) == 0 {
		sec.repl.primaryRegion = ""
	}
	return replicationOutput{ARN: sec.arn, ReplicationStatus: m.replicationStatus(sec)}, nil
}

// stopReplicationToReplica, called in a replica's Region, makes the replica
// a standalone secret and removes it from its primary's replicas.
func (m *secretsManager) stopReplicationToReplica(body []byte) (any, error) {
	var in secretIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	if !sec.repl.isReplica {
		return nil, errorf("InvalidRequestException", "The secret %s is not a replica secret.", sec.name)
	}
	source := m.srv.regionState(sec.repl.primaryRegion).sm
	if primary := source.byName[sec.name]; primary != nil {
		primary.repl.replicas = slices.DeleteFunc(primary.repl.replicas, func(r *replicaStatus) bool { return r.region == m.region })
		if len(primary.repl.replicas) == 0 {
			primary.repl.primaryRegion = ""
		}
	}
	sec.repl = replicaInfo{}
	m.touch(sec)
	return replicationOutput{ARN: sec.arn}, nil
}

// replicaWrites are the operations a replica refuses: it changes only
// through its primary.
var replicaWrites = map[string]bool{
	"PutSecretValue": true, "UpdateSecret": true, "UpdateSecretVersionStage": true,
	"RotateSecret": true, "CancelRotateSecret": true, "DeleteSecret": true, "RestoreSecret": true,
	"PutResourcePolicy": true, "DeleteResourcePolicy": true, "TagResource": true, "UntagResource": true,
	"ReplicateSecretToRegions": true, "RemoveRegionsFromReplication": true,
}

// replicaReads are the operations that change no secret: they need no
// replication sweep afterwards.
var replicaReads = map[string]bool{
	"GetSecretValue": true, "BatchGetSecretValue": true, "DescribeSecret": true,
	"ListSecretVersionIds": true, "ListSecrets": true, "GetRandomPassword": true,
	"GetResourcePolicy": true, "ValidateResourcePolicy": true,
}

// guardReplication refuses op on body's secret when AWS would because of
// replication: any write to a replica, and deleting a primary that still
// has replicas. Requests it cannot parse, or whose secret it cannot find,
// are left to the operation to answer.
func (m *secretsManager) guardReplication(op string, body []byte) *apiError {
	if !replicaWrites[op] {
		return nil
	}
	var in secretIDInput
	if json.Unmarshal(body, &in) != nil || in.SecretID == "" {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookup(in.SecretID)
	if aerr != nil {
		return nil
	}
	if sec.repl.isReplica {
		return errorf("InvalidParameterException", "Operation not permitted on a replica secret. Call must be made in primary secret's region.")
	}
	if op == "DeleteSecret" && len(sec.repl.replicas) > 0 {
		regions := make([]string, len(sec.repl.replicas))
		for i, rs := range sec.repl.replicas {
			regions[i] = rs.region
		}
		return errorf("InvalidParameterException", "You can't delete secret %s that still has replica regions [%s].", sec.arn, strings.Join(regions, ", "))
	}
	return nil
}
