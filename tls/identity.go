package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// LoginFrom is which part of a client certificate names the user, with
// the values of RabbitMQ's ssl_cert_login_from.
type LoginFrom string

// The --tls-cert-login-from values.
const (
	// LoginCommonName is the subject's CN (sluice's default; RabbitMQ's
	// default is distinguished_name).
	LoginCommonName LoginFrom = "common_name"
	// LoginDistinguishedName is the whole subject in RFC 4514 form,
	// "CN=app,O=Example", as RabbitMQ writes it.
	LoginDistinguishedName LoginFrom = "distinguished_name"
	// LoginSubjectAltName is the first subject alternative name of the
	// type Login.SANType.
	LoginSubjectAltName LoginFrom = "subject_alternative_name"
)

// SANType is which kind of subject alternative name names the user, with
// the values of RabbitMQ's ssl_cert_login_san_type that Go can read.
type SANType string

// The --tls-cert-login-san-type values.
const (
	SANDNS   SANType = "dns"
	SANEmail SANType = "email"
	SANIP    SANType = "ip"
	SANURI   SANType = "uri"
)

// Login says how a certificate names its user.
type Login struct {
	From    LoginFrom
	SANType SANType
}

// ParseLogin checks --tls-cert-login-from and --tls-cert-login-san-type.
// subject_alt_name is taken for subject_alternative_name, as RabbitMQ
// takes both.
func ParseLogin(from, sanType string) (Login, error) {
	l := Login{From: LoginFrom(from), SANType: SANType(sanType)}
	switch l.From {
	case "subject_alt_name":
		l.From = LoginSubjectAltName
	case LoginCommonName, LoginDistinguishedName, LoginSubjectAltName:
	default:
		return l, fmt.Errorf("tls-cert-login-from must be common_name, distinguished_name or subject_alternative_name, not %q", from)
	}
	switch l.SANType {
	case SANDNS, SANEmail, SANIP, SANURI:
	default:
		return l, fmt.Errorf("tls-cert-login-san-type must be dns, email, ip or uri, not %q", sanType)
	}
	return l, nil
}

// Name is the user cert names. A certificate without the part asked for
// is an error: falling back to another part could log in as a user the
// operator did not mean.
func (l Login) Name(cert *x509.Certificate) (string, error) {
	switch l.From {
	case LoginDistinguishedName:
		return cert.Subject.String(), nil
	case LoginSubjectAltName:
		var names []string
		switch l.SANType {
		case SANDNS:
			names = cert.DNSNames
		case SANEmail:
			names = cert.EmailAddresses
		case SANIP:
			for _, ip := range cert.IPAddresses {
				names = append(names, ip.String())
			}
		case SANURI:
			for _, u := range cert.URIs {
				names = append(names, u.String())
			}
		}
		if len(names) == 0 || names[0] == "" {
			return "", fmt.Errorf("client certificate %q has no %s subject alternative name", cert.Subject.String(), l.SANType)
		}
		return names[0], nil
	}
	if cert.Subject.CommonName == "" {
		return "", fmt.Errorf("client certificate %q has no common name", cert.Subject.String())
	}
	return cert.Subject.CommonName, nil
}

// PeerName is the user the verified client certificate of a finished
// handshake names, or ErrNoCertificate when there is none. Only a
// certificate crypto/tls verified against --tls-ca counts: with
// tls-client-auth none a client certificate is never even asked for.
func (m *Manager) PeerName(st *tls.ConnectionState) (string, error) {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return "", ErrNoCertificate
	}
	return m.settings.Login.Name(st.PeerCertificates[0])
}
