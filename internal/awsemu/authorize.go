package awsemu

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rekeyhq/rekey/policy"
)

// This file decides, with Options.EnforceIAM, whether the caller may make a
// request, with package policy's evaluation logic (Evaluate):
//
//   - Secrets Manager operations: action "secretsmanager:<Op>" on the
//     secret's ARN, decided by the caller's identity policies and the
//     secret's resource policy; operations on no secret (ListSecrets,
//     GetRandomPassword, BatchGetSecretValue itself) on resource "*".
//   - The KMS request Secrets Manager makes for the caller when it reads or
//     writes a value (Secrets Manager user guide, "Secret encryption and
//     decryption", permissions for the KMS key: kms:GenerateDataKey to
//     encrypt a new value, kms:Decrypt to read one), with kms:ViaService
//     secretsmanager.<region>.amazonaws.com and the encryption context keys
//     SecretARN and SecretVersionId, decided by the key policy and the same
//     identity policies. The AWS managed key aws/secretsmanager serves only
//     its own account.
//   - KMS operations: action "kms:<Op>" on the key's ARN, decided by the
//     key policy and the identity policies; operations on no key
//     (CreateKey, ListKeys, ListAliases) by the identity policies alone.
//
// The check runs before the operation, under its own look-up of the secret
// or key; a policy changed concurrently with a request may be seen either
// way, as in AWS, where policy changes are eventually consistent.

// callerKey carries the caller in a request's context.
type callerKey struct{}

func withCaller(ctx context.Context, p *caller) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, p)
}

// callerFrom returns the caller of a request, nil when IAM is not enforced.
func callerFrom(ctx context.Context) *caller {
	p, _ := ctx.Value(callerKey{}).(*caller)
	return p
}

// caller is the principal making one request, with what the request tells
// about it.
type caller struct {
	*principal
	scps     []*policy.Document // over the principal's account
	sourceIP string             // the client's address, for aws:SourceIp
}

// requestContext returns the global condition keys AWS adds to every
// request that the emulator knows: aws:CurrentTime and aws:EpochTime from
// the Server's clock, aws:SourceIp, aws:RequestedRegion, aws:PrincipalTag/*
// and aws:SecureTransport "true". The emulator serves plain HTTP on
// loopback, but it stands for AWS's TLS endpoints, where every SDK request
// is secure; the common "deny unless aws:SecureTransport" statement must
// not deny every test.
func (s *Server) requestContext(p *caller, region string) map[string][]string {
	now := s.now().UTC()
	ctx := map[string][]string{
		"aws:CurrentTime":     {now.Format(time.RFC3339)},
		"aws:EpochTime":       {strconv.FormatInt(now.Unix(), 10)},
		"aws:SecureTransport": {"true"},
		"aws:RequestedRegion": {region},
	}
	if p.sourceIP != "" {
		ctx["aws:SourceIp"] = []string{p.sourceIP}
	}
	for k, v := range p.tags {
		ctx["aws:PrincipalTag/"+k] = []string{v}
	}
	return ctx
}

// errKMSNotAllowed is Secrets Manager's answer when KMS refuses the request
// it makes for the caller. The wording is what the service sends for
// GetSecretValue and for writes (CreateSecret, PutSecretValue), as reported
// verbatim in aws-samples/aws-secrets-manager-rotation-lambdas#53,
// aws/aws-cdk#7677 and awsdocs/aws-kms-developer-guide#36.
func errKMSNotAllowed() *apiError {
	return errorf("AccessDeniedException", "Access to KMS is not allowed")
}

// errNotModelled refuses a request that would act on resources of another
// account than the server's, which the emulator does not hold.
func (s *Server) errNotModelled(p *caller) *apiError {
	return errorf("AccessDeniedException", "awsemu: %s is in account %s; the emulator holds resources of account %s only, so it cannot create or list resources in account %s.",
		p.arn, p.account, s.accountID, p.account)
}

// allowEverything is an identity policy allowing every action: evaluating a
// denied request again with it tells whether the identity side or the
// resource side refused, which AWS's message names.
var allowEverything = policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)

// document returns the parsed form of a policy the emulator stores,
// caching it by its text (the cache grows with the distinct policies a
// Server sees, which tests keep few).
func (s *Server) document(text string) (*policy.Document, error) {
	if text == "" {
		return nil, nil
	}
	if d, ok := s.docs.Load(text); ok {
		return d.(*policy.Document), nil
	}
	d, err := policy.Parse([]byte(text))
	if err != nil {
		return nil, err
	}
	s.docs.Store(text, d)
	return d, nil
}

// delegatingKeyPolicy is a key policy naming account's root: KMS decides
// operations on no key (CreateKey, ListKeys, ListAliases, and CreateAlias on
// the alias) by IAM policies alone, which is what Evaluate makes of a kms:
// request under such a policy.
func (s *Server) delegatingKeyPolicy(account string) *policy.Document {
	d, err := s.document(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}}`)
	if err != nil {
		panic("awsemu: " + err.Error()) // unreachable: a fixed valid document
	}
	return d
}

// decide evaluates one request and returns nil when it is allowed, else the
// AccessDeniedException AWS answers, in the shape IAM documents for access
// denied messages: "User: <caller> is not authorized to perform: <action>
// on resource: <arn> because no <kind> allows the <action> action", or
// "with an explicit deny in a <kind>", where kind is the policy that
// decided: service control policy, resource-based policy, identity-based
// policy or permissions boundary, in the order AWS evaluates them.
func (s *Server) decide(p *caller, action, resource string, resPolicy *policy.Document, owner string, ctx map[string][]string) error {
	req := policy.Request{Principal: p.arn, Action: action, Resource: resource, Context: ctx}
	pols := policy.Policies{Identity: p.identity, Resource: resPolicy, ResourceOwner: owner, Boundary: p.boundary, SCPs: p.scps}
	r := policy.Evaluate(req, pols)
	if r.Decision == policy.Allowed {
		return nil
	}
	var why string
	if r.Decision == policy.ExplicitDeny {
		kind := "an identity-based policy"
		if len(r.Statements) > 0 {
			switch r.Statements[0].Kind {
			case policy.ResourcePolicy, policy.KeyPolicy:
				kind = "a resource-based policy"
			case policy.PermissionsBoundary:
				kind = "a permissions boundary"
			case policy.SCP:
				kind = "a service control policy"
			}
		}
		why = "with an explicit deny in " + kind
	} else {
		why = "because no " + s.implicitDenier(req, pols) + " allows the " + action + " action"
	}
	on := ""
	if resource != "*" {
		on = " on resource: " + resource
	}
	return errorf("AccessDeniedException", "User: %s is not authorized to perform: %s%s %s", p.arn, action, on, why)
}

// implicitDenier names the first policy, in AWS's evaluation order, that
// did not allow an implicitly denied request, by evaluating it again with
// the later policies made permissive.
func (s *Server) implicitDenier(req policy.Request, pols policy.Policies) string {
	if len(pols.SCPs) > 0 {
		// The SCPs alone: as if the resource were the caller's own, with
		// everything else allowing.
		own := arnAccount(req.Principal)
		alone := policy.Policies{Identity: []*policy.Document{allowEverything}, SCPs: pols.SCPs, ResourceOwner: own}
		if strings.HasPrefix(strings.ToLower(req.Action), "kms:") {
			alone.Resource = s.delegatingKeyPolicy(own)
		}
		if policy.Evaluate(req, alone).Decision != policy.Allowed {
			return "service control policy"
		}
	}
	pols.SCPs = nil
	bounded := pols.Boundary
	pols.Boundary = nil
	identity := pols.Identity
	pols.Identity = []*policy.Document{allowEverything}
	if policy.Evaluate(req, pols).Decision != policy.Allowed {
		return "resource-based policy"
	}
	pols.Identity = identity
	if bounded == nil || policy.Evaluate(req, pols).Decision != policy.Allowed {
		return "identity-based policy"
	}
	return "permissions boundary"
}

// arnAccount returns the account field of an ARN.
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// authorize decides a request before it is served. It returns an error to
// answer instead of serving it, or a reply to send without serving it (a
// caller of another account listing its own, empty, account), or neither
// when the request may be served.
func (s *Server) authorize(rs regionState, p *caller, service, op string, body []byte) (reply any, err error) {
	switch {
	case service == "secretsmanager" && slices.Contains(secretsManagerOps, op):
		return rs.sm.authorize(p, op, body)
	case service == "TrentService" && slices.Contains(kmsOps, op):
		return rs.kms.authorize(p, op, body)
	}
	return nil, nil // the service answers the unknown operation
}

// The operations the emulator serves; each is also the name of its IAM
// action.
var (
	secretsManagerOps = []string{
		"BatchGetSecretValue", "CancelRotateSecret", "CreateSecret", "DeleteResourcePolicy", "DeleteSecret",
		"DescribeSecret", "GetRandomPassword", "GetResourcePolicy", "GetSecretValue", "ListSecretVersionIds",
		"ListSecrets", "PutResourcePolicy", "PutSecretValue", "RestoreSecret", "RotateSecret", "TagResource",
		"UntagResource", "UpdateSecret", "UpdateSecretVersionStage", "ValidateResourcePolicy",
	}
	kmsOps = []string{
		"CancelKeyDeletion", "CreateAlias", "CreateKey", "Decrypt", "DescribeKey", "DisableKey", "EnableKey",
		"Encrypt", "GenerateDataKey", "GetKeyPolicy", "ListAliases", "ListKeys", "PutKeyPolicy", "ScheduleKeyDeletion",
	}
)

// smRequest holds every request field authorization reads.
type smRequest struct {
	SecretID           string `json:"SecretId"`
	Name               string
	KmsKeyID           string `json:"KmsKeyId"`
	Description        *string
	SecretString       *string
	SecretBinary       []byte
	VersionID          string `json:"VersionId"`
	VersionStage       string
	ClientRequestToken string
	Filters            []json.RawMessage
	BlockPublicPolicy  *bool
	ResourcePolicy     string
	RotationLambdaARN  string
	Tags               []tag
	TagKeys            []string
}

func (r *smRequest) hasValue() bool { return r.SecretString != nil || r.SecretBinary != nil }

// requestTags adds the aws:RequestTag/<key> and aws:TagKeys keys of tags.
func requestTags(ctx map[string][]string, tags []tag, keys []string) {
	for _, t := range tags {
		ctx["aws:RequestTag/"+t.Key] = []string{t.Value}
		keys = append(keys, t.Key)
	}
	if len(keys) > 0 {
		ctx["aws:TagKeys"] = keys
	}
}

// authorize decides a Secrets Manager request; see Server.authorize.
func (m *secretsManager) authorize(p *caller, op string, body []byte) (any, error) {
	var in smRequest
	if decode(body, &in) != nil {
		return nil, nil // the operation answers the malformed body
	}
	action := "secretsmanager:" + op
	foreign := p.account != m.srv.accountID
	ctx := m.srv.requestContext(p, m.region)
	switch op {
	case "ListSecrets", "GetRandomPassword", "BatchGetSecretValue":
		if err := m.srv.decide(p, action, "*", nil, "", ctx); err != nil {
			return nil, err
		}
		if op == "BatchGetSecretValue" && len(in.Filters) > 0 {
			// Filters list secrets: AWS requires ListSecrets as well.
			if err := m.srv.decide(p, "secretsmanager:ListSecrets", "*", nil, "", ctx); err != nil {
				return nil, err
			}
		}
		if foreign && (op == "ListSecrets" || len(in.Filters) > 0) {
			// The caller's own account, which holds nothing here.
			if op == "ListSecrets" {
				return listSecretsOutput{SecretList: []listEntry{}}, nil
			}
			return batchGetOutput{SecretValues: []*secretValueOutput{}}, nil
		}
		return nil, nil // per-secret checks happen in batchGetSecretValue
	case "CreateSecret":
		return nil, m.authorizeCreate(p, &in, foreign)
	case "ValidateResourcePolicy":
		if in.SecretID == "" {
			return nil, m.srv.decide(p, action, "*", nil, "", ctx)
		}
	}
	if op == "PutResourcePolicy" && in.ResourcePolicy != "" {
		if _, err := m.srv.document(in.ResourcePolicy); err != nil {
			return nil, errorf("MalformedPolicyDocumentException", "This resource policy contains a syntax error or is not a valid policy document. %s", err)
		}
	}
	if in.SecretID == "" {
		return nil, nil // the operation answers the missing SecretId
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	sec, arn := m.target(p, in.SecretID)
	var resPolicy *policy.Document
	if sec != nil {
		d, err := m.srv.document(sec.policy)
		if err != nil {
			return nil, errorf("InternalServiceError", "awsemu: stored resource policy of %s does not parse: %v", sec.arn, err)
		}
		resPolicy = d
		for _, t := range sec.tags {
			ctx["secretsmanager:ResourceTag/"+t.Key] = []string{t.Value}
			ctx["aws:ResourceTag/"+t.Key] = []string{t.Value}
		}
	}
	switch op {
	case "GetSecretValue":
		if in.VersionID != "" {
			ctx["secretsmanager:VersionId"] = []string{in.VersionID}
		}
		if in.VersionStage != "" {
			ctx["secretsmanager:VersionStage"] = []string{in.VersionStage}
		}
	case "UpdateSecret":
		if in.KmsKeyID != "" {
			ctx["secretsmanager:KmsKeyId"] = []string{in.KmsKeyID}
		}
		if in.Description != nil {
			ctx["secretsmanager:Description"] = []string{*in.Description}
		}
	case "RotateSecret":
		if in.RotationLambdaARN != "" {
			ctx["secretsmanager:RotationLambdaARN"] = []string{in.RotationLambdaARN}
		}
	case "PutResourcePolicy":
		if in.BlockPublicPolicy != nil {
			ctx["secretsmanager:BlockPublicPolicy"] = []string{boolString(*in.BlockPublicPolicy)}
		}
	case "TagResource":
		requestTags(ctx, in.Tags, nil)
	case "UntagResource":
		requestTags(ctx, nil, in.TagKeys)
	}
	if err := m.srv.decide(p, action, arn, resPolicy, "", ctx); err != nil {
		return nil, err
	}
	if sec == nil {
		if foreign && !strings.HasPrefix(in.SecretID, "arn:") {
			// A name resolves in the caller's own account.
			return nil, errSecretNotFound()
		}
		return nil, nil // the operation answers that there is no such secret
	}
	switch op {
	case "GetSecretValue":
		return nil, m.authorizeReadLocked(p, sec, in.VersionID, in.VersionStage)
	case "PutSecretValue", "UpdateSecret":
		if !in.hasValue() {
			return nil, nil
		}
		keyID := sec.kmsKeyID
		if op == "UpdateSecret" && in.KmsKeyID != "" {
			keyID = in.KmsKeyID
		}
		return nil, m.srv.kms.authorizeForSecret(p, "kms:GenerateDataKey", keyID, sec.arn, in.ClientRequestToken)
	}
	return nil, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// target finds the secret id names for caller p and returns it with the
// ARN to authorize against; sec is nil when there is none. A name or a
// partial ARN resolves in the caller's account, so for a caller of another
// account only a full ARN reaches the server's secrets. m.mu must be held.
func (m *secretsManager) target(p *caller, id string) (sec *secret, arn string) {
	if !strings.HasPrefix(id, "arn:") {
		if p.account != m.srv.accountID {
			return nil, "arn:aws:secretsmanager:" + m.region + ":" + p.account + ":secret:" + id
		}
		if sec, err := m.lookup(id); err == nil {
			return sec, sec.arn
		}
		return nil, m.arnPrefix() + id
	}
	if sec, err := m.lookup(id); err == nil {
		return sec, sec.arn
	}
	return nil, id
}

// authorizeCreate decides CreateSecret: secretsmanager:CreateSecret on the
// ARN the secret would get (its random suffix is not known yet, so
// "-??????" stands for it) and, with a value, kms:GenerateDataKey on its key.
func (m *secretsManager) authorizeCreate(p *caller, in *smRequest, foreign bool) error {
	if in.Name == "" {
		return nil // the operation answers the missing name
	}
	ctx := m.srv.requestContext(p, m.region)
	ctx["secretsmanager:Name"] = []string{in.Name}
	if in.KmsKeyID != "" {
		ctx["secretsmanager:KmsKeyId"] = []string{in.KmsKeyID}
	}
	if in.Description != nil {
		ctx["secretsmanager:Description"] = []string{*in.Description}
	}
	requestTags(ctx, in.Tags, nil)
	account := m.srv.accountID
	if foreign {
		account = p.account
	}
	arn := "arn:aws:secretsmanager:" + m.region + ":" + account + ":secret:" + in.Name + "-??????"
	if err := m.srv.decide(p, "secretsmanager:CreateSecret", arn, nil, "", ctx); err != nil {
		return err
	}
	if foreign {
		return m.srv.errNotModelled(p)
	}
	if !in.hasValue() {
		return nil
	}
	return m.srv.kms.authorizeForSecret(p, "kms:GenerateDataKey", in.KmsKeyID, arn, in.ClientRequestToken)
}

// authorizeReadLocked decides the kms:Decrypt that reading sec's version
// (by versionID or stage, default AWSCURRENT) takes. A version that does
// not exist or has no value is left to the operation to answer. m.mu must
// be held.
func (m *secretsManager) authorizeReadLocked(p *caller, sec *secret, versionID, stage string) error {
	var v *version
	switch {
	case versionID != "":
		v = sec.versions[versionID]
	case stage != "":
		v = sec.holder(stage)
	default:
		v = sec.holder(stageCurrent)
	}
	if v == nil || !v.hasValue {
		return nil
	}
	return m.srv.kms.authorizeForSecret(p, "kms:Decrypt", v.keyARN, sec.arn, v.id)
}

// authorizeBatchLocked decides one secret of a BatchGetSecretValue:
// secretsmanager:GetSecretValue on it and the kms:Decrypt of its current
// value. m.mu must be held.
func (m *secretsManager) authorizeBatchLocked(p *caller, sec *secret) *apiError {
	ctx := m.srv.requestContext(p, m.region)
	for _, t := range sec.tags {
		ctx["secretsmanager:ResourceTag/"+t.Key] = []string{t.Value}
		ctx["aws:ResourceTag/"+t.Key] = []string{t.Value}
	}
	d, err := m.srv.document(sec.policy)
	if err != nil {
		return errorf("InternalServiceError", "awsemu: stored resource policy of %s does not parse: %v", sec.arn, err)
	}
	err = m.srv.decide(p, "secretsmanager:GetSecretValue", sec.arn, d, "", ctx)
	if err == nil {
		err = m.authorizeReadLocked(p, sec, "", "")
	}
	if err == nil {
		return nil
	}
	ae, ok := err.(*apiError)
	if !ok {
		ae = errorf("InternalServiceError", "awsemu: %v", err)
	}
	return ae
}

// authorizeForSecret decides the request Secrets Manager makes to KMS for
// caller p on the key keyID names ("" = aws/secretsmanager) to encrypt or
// decrypt a value of secretARN: action on the key, through
// secretsmanager.<region>.amazonaws.com, with encryption context SecretARN
// and SecretVersionId. A refusal is Secrets Manager's "Access to KMS is not
// allowed"; a key that does not resolve is left to the operation.
func (k *keyService) authorizeForSecret(p *caller, action, keyID, secretARN, versionID string) error {
	k.mu.Lock()
	key, err := k.secretKeyLocked(keyID)
	var arn, text string
	var managed bool
	if err == nil {
		arn, text, managed = key.arn, key.policy, key.managed
	}
	k.mu.Unlock()
	if err != nil {
		return nil
	}
	if managed && p.account != k.srv.accountID {
		// The AWS managed key serves only its own account, whatever its
		// policy says (UpdateSecret's KmsKeyId documentation). Its policy's
		// kms:CallerAccount condition refuses other accounts too; this
		// rule is AWS's, and holds even if that policy were different.
		return errKMSNotAllowed()
	}
	doc, err := k.srv.document(text)
	if err != nil {
		return errorf("InternalServiceError", "awsemu: stored key policy of %s does not parse: %v", arn, err)
	}
	ctx := k.srv.requestContext(p, k.region)
	ctx["kms:ViaService"] = []string{"secretsmanager." + k.region + ".amazonaws.com"}
	ctx["kms:EncryptionContext:SecretARN"] = []string{secretARN}
	ctx["kms:EncryptionContextKeys"] = []string{"SecretARN", "SecretVersionId"}
	if versionID != "" {
		ctx["kms:EncryptionContext:SecretVersionId"] = []string{versionID}
	}
	if k.srv.decide(p, action, arn, doc, k.srv.accountID, ctx) != nil {
		return errKMSNotAllowed()
	}
	return nil
}

// kmsRequest holds every KMS request field authorization reads.
type kmsRequest struct {
	KeyID             string `json:"KeyId"`
	TargetKeyID       string `json:"TargetKeyId"`
	AliasName         string
	CiphertextBlob    []byte
	EncryptionContext map[string]string
	Policy            *string
}

// authorize decides a KMS request; see Server.authorize.
func (k *keyService) authorize(p *caller, op string, body []byte) (any, error) {
	var in kmsRequest
	if decode(body, &in) != nil {
		return nil, nil // the operation answers the malformed body
	}
	action := "kms:" + op
	foreign := p.account != k.srv.accountID
	if in.Policy != nil && (op == "CreateKey" || op == "PutKeyPolicy") {
		if _, err := k.srv.document(*in.Policy); err != nil {
			return nil, errorf("MalformedPolicyDocumentException", "The new key policy is not a valid policy document: %s", err)
		}
	}
	ctx := k.srv.requestContext(p, k.region)
	if len(in.EncryptionContext) > 0 {
		keys := make([]string, 0, len(in.EncryptionContext))
		for ck, cv := range in.EncryptionContext {
			ctx["kms:EncryptionContext:"+ck] = []string{cv}
			keys = append(keys, ck)
		}
		ctx["kms:EncryptionContextKeys"] = keys
	}
	switch op {
	case "CreateKey", "ListKeys", "ListAliases":
		if err := k.srv.decide(p, action, "*", k.srv.delegatingKeyPolicy(p.account), "", ctx); err != nil {
			return nil, err
		}
		switch {
		case !foreign:
			return nil, nil
		case op == "ListKeys":
			return listKeysOutput{Keys: []listKeysEntry{}}, nil
		case op == "ListAliases":
			return listAliasesOutput{Aliases: []aliasEntry{}}, nil
		}
		return nil, k.srv.errNotModelled(p)
	case "CreateAlias":
		aliasARN := "arn:aws:kms:" + k.region + ":" + p.account + ":" + in.AliasName
		if err := k.srv.decide(p, action, aliasARN, k.srv.delegatingKeyPolicy(p.account), "", ctx); err != nil {
			return nil, err
		}
		if foreign {
			return nil, k.srv.errNotModelled(p)
		}
		in.KeyID = in.TargetKeyID
	}

	keyID := in.KeyID
	k.mu.Lock()
	k.reapLocked()
	var key *kmsKey
	switch {
	case keyID == "" && op == "Decrypt":
		if id, ok := blobKeyID(in.CiphertextBlob); ok {
			key = k.keys[id]
		}
	case foreign && !strings.HasPrefix(keyID, "arn:"):
		// A key id or alias name resolves in the caller's account.
	default:
		key, _ = k.lookupLocked(keyID, op != "CreateAlias")
	}
	var arn, text string
	if key != nil {
		arn, text = key.arn, key.policy
	}
	k.mu.Unlock()
	if key == nil {
		if foreign && keyID != "" && !strings.HasPrefix(keyID, "arn:") {
			// The caller's own account, which holds no keys: its IAM
			// policies decide whether it learns that.
			own := "arn:aws:kms:" + k.region + ":" + p.account + ":"
			if strings.HasPrefix(keyID, "alias/") {
				if err := k.srv.decide(p, action, own+keyID, k.srv.delegatingKeyPolicy(p.account), "", ctx); err != nil {
					return nil, err
				}
				return nil, errorf("NotFoundException", "Alias %s%s is not found.", own, keyID)
			}
			if err := k.srv.decide(p, action, own+"key/"+keyID, k.srv.delegatingKeyPolicy(p.account), "", ctx); err != nil {
				return nil, err
			}
			return nil, errorf("NotFoundException", "Key '%skey/%s' does not exist", own, keyID)
		}
		return nil, nil // the operation answers the missing or unknown key
	}
	doc, err := k.srv.document(text)
	if err != nil {
		return nil, errorf("InternalServiceError", "awsemu: stored key policy of %s does not parse: %v", arn, err)
	}
	if strings.HasPrefix(keyID, "alias/") || strings.Contains(keyID, ":alias/") {
		_, alias, _ := strings.Cut(keyID, "alias/")
		ctx["kms:RequestAlias"] = []string{"alias/" + alias}
	}
	return nil, k.srv.decide(p, action, arn, doc, k.srv.accountID, ctx)
}
