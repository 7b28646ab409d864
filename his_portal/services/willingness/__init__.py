"""意愿校验, the step-up confirmation before signing: states, binding and spending
(core), 方式1 SMS code (sms), 方式2 QR code + face check on the phone (qr)."""
