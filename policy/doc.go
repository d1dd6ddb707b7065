// Package policy decides offline, and explains in plain words, whether an
// AWS principal may read a Secrets Manager secret.
//
// "Access Denied" on a secret usually comes from a policy nobody looked at.
// Reading a secret takes two requests, each decided by several policies:
//
//   - secretsmanager:GetSecretValue on the secret, decided by the secret's
//     resource policy, the caller's identity policies, its permissions
//     boundary and the SCPs over its account;
//   - kms:Decrypt on the secret's KMS key, which Secrets Manager makes on
//     the caller's behalf (kms:ViaService secretsmanager.<region>.amazonaws.com,
//     encryption context SecretARN), decided by the key policy and the same
//     identity policies, boundary and SCPs.
//
// CheckGetSecretValue evaluates both and reports each layer — secret policy,
// identity policy, permissions boundary, KMS key policy, KMS identity
// policy — with the layers that fail first and, for each, the statement to
// add or the one to change. Gather reads the secret's side (resource policy,
// key ARN, key manager, key policy) with four API calls; the caller's
// identity policies cannot be read from Secrets Manager and are supplied by
// the caller.
//
// # The evaluation model
//
// Evaluate applies AWS's policy evaluation logic to one request:
//
//  1. An explicit Deny in any policy wins.
//  2. Every SCP over the caller's account must allow.
//  3. Same account: an Allow in an identity policy or in the resource policy
//     suffices. A resource policy that names the account (its ID or root
//     ARN) only delegates to IAM: it allows nothing by itself. One that names
//     the IAM user or the role session allows even with no identity policy;
//     one that names the role is capped by the permissions boundary, as
//     identity policies always are.
//  4. Cross account: the resource policy (trusting side) and the caller's
//     identity policy within its boundary (trusted side) must both allow.
//
// KMS keys differ: the key policy must allow, either directly or by naming
// the key's account root, which delegates to the account's IAM policies; an
// IAM policy alone never allows use of a key. Across accounts the key policy
// and the caller's identity policy must both allow. And the AWS managed key
// aws/secretsmanager cannot be used from another account at all, whatever
// the policies say: a secret shared across accounts needs a customer managed
// key.
//
// Statements match as in IAM: Action and NotAction case-insensitively,
// Resource and NotResource case-sensitively with * and ? inside one ARN
// segment, Principal and NotPrincipal by account, user, role and session.
// Conditions support the String, Arn, Numeric, Date, Bool, Binary,
// IpAddress and Null operators with ...IfExists and the ForAnyValue and
// ForAllValues set operators, and policy variables such as ${aws:username}
// and ${aws:PrincipalTag/team}. A key the request does not carry makes a
// condition false, except for negated operators, ...IfExists and
// ForAllValues (ForAnyValue stays false, IfExists or not) — which is why a StringEquals on secretsmanager:VersionStage,
// a key sent only when the caller passes VersionStage, denies a plain
// GetSecretValue. Result and Report say so when it happens.
//
// # Policy variables
//
// A policy variable the request cannot fill — ${aws:username} for an
// assumed role, a tag the principal lacks, a multivalued key — has no value,
// and AWS warns that such a variable may make the whole statement invalid
// (IAM User Guide, "IAM policy elements: Variables and tags", section
// "Policy variables with no value":
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#policy-vars-no-value).
// The package applies this per entry, so that the order of a list never
// changes a decision: a Resource or NotResource entry, or a condition value,
// whose variable cannot be filled is unknown. Another entry that matches
// still decides — a Deny on ["…:secret:home/${aws:username}/*",
// "…:secret:prod/*"] denies prod/* to a role, whichever entry comes first —
// and when the outcome hangs on the unknown entry, the statement does not
// apply (the condition fails, negated operators included; a NotResource
// statement does not apply). A ${key, 'default'} is used instead of the
// request's value when it has none. Result and Report name the variable.
//
// Lint checks a secret's resource policy the way ValidateResourcePolicy
// with BlockPublicPolicy does, and for the mistakes behind most failed
// cross-account reads.
//
// Parse compiles a document's patterns once, so Evaluate does no parsing
// and matches wildcards without regular expressions: a linear scan, with a
// bit-set automaton bounding the rare hard patterns. Documents are immutable
// and safe for concurrent use.
//
// Limits: the package does not model session policies, resource control
// policies, VPC endpoint policies or grants, and it knows no more about the
// request than Request.Context says (aws:CurrentTime and aws:SourceIp, for
// instance, are absent unless given). A role's path is not part of its
// session ARN, so roles are matched by account and name.
package policy
