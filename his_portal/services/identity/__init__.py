"""Who the doctor is: ID numbers (idcard), the 个人信息 profile (profile) and
一键实名认证 with its revocation (verification)."""
