package policy

import "strings"

// secretsManagerActions are the IAM actions of Secrets Manager, from the
// Service Authorization Reference.
func secretsManagerActions() []string {
	return []string{
		"BatchGetSecretValue", "CancelRotateSecret", "CreateSecret", "DeleteResourcePolicy",
		"DeleteSecret", "DescribeSecret", "DisassociateCrossAccountReplica", "GetRandomPassword",
		"GetResourcePolicy", "GetSecretValue", "ListSecretVersionIds", "ListSecrets",
		"PutResourcePolicy", "PutSecretValue", "RemoveRegionsFromReplication",
		"ReplicateSecretToRegions", "RestoreSecret", "RotateSecret", "StopReplicationToReplica",
		"TagResource", "UntagResource", "UpdateSecret", "UpdateSecretVersionStage",
		"ValidateResourcePolicy",
	}
}

// matchesSecretsManagerAction reports whether the action pattern matches
// at least one Secrets Manager action.
func matchesSecretsManagerAction(g *glob) bool {
	for _, a := range secretsManagerActions() {
		if g.match("secretsmanager:"+a, false, true) {
			return true
		}
	}
	return false
}

// actionGrantsAll reports whether the pattern covers every Secrets Manager
// action ("*", "secretsmanager:*").
func actionGrantsAll(a string) bool {
	return a == "*" || strings.EqualFold(a, "secretsmanager:*")
}
