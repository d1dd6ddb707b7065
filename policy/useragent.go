package policy

import (
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/useragent"
)

// smUserAgent and kmsUserAgent are passed to every API call Gather makes,
// so that the call's User-Agent carries "rekey/<rekey.Version>" and
// CloudTrail shows it came from rekey. They change only that call's copy
// of the options.
func smUserAgent(o *secretsmanager.Options) { o.APIOptions = useragent.Append(o.APIOptions) }

func kmsUserAgent(o *kms.Options) { o.APIOptions = useragent.Append(o.APIOptions) }
