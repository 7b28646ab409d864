"""Demo clinic: accounts, the tutorial's patients and a month of generated records.

Deterministic for a given load time (fixed random seed); records are placed in the
30 days before it, never after, so that 今日 has work waiting. Loaded only into an
empty database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pypinyin import Style, lazy_pinyin
from sqlmodel import Session, func, select

from his_portal.models import (
    Appointment,
    Clinic,
    MedicalRecord,
    Patient,
    Role,
    Sex,
    User,
)
from his_portal.services.auth import hash_password

__all__ = ["DEMO_ACCOUNTS", "DemoAccount", "load_demo_data", "pinyin_key"]

CLINIC_NAME = "上海维乐海趣路门诊"
SEED = 20201214


@dataclass(frozen=True)
class DemoAccount:
    login_id: str
    display_name: str
    role: Role
    password: str


DEMO_ACCOUNTS = (
    DemoAccount("sh-feihuan@8112", "郑程", Role.DOCTOR, "Demo@2026"),
    DemoAccount("sh-wangli@8112", "王莉", Role.DOCTOR, "Demo@2026"),
    DemoAccount("sh-manager@8112", "陈静", Role.MANAGER, "Demo@2026"),
    DemoAccount("sh-admin@8112", "系统管理员", Role.ADMIN, "Demo@2026"),
)

# (name, sex, birth date, phone, record_no, visit item, title, chief complaint, doctor)
TUTORIAL_RECORDS = (
    (
        "刘作榛",
        Sex.MALE,
        date(1985, 3, 2),
        "13816720431",
        "P120111201801313",
        "检查",
        "口腔检查",
        "左下后牙咀嚼时疼痛一周",
        "郑程",
        time(14, 43),
    ),
    (
        "郭少青",
        Sex.FEMALE,
        date(1990, 7, 19),
        "13917284560",
        "P120111190005083",
        "美学修复",
        "美学修复",
        "上前牙变色影响美观，要求改善",
        "郑程",
        time(14, 42),
    ),
    (
        "张三",
        Sex.MALE,
        date(2002, 6, 1),
        "13611112222",
        "P111220000601",
        "正畸",
        "啦啦啦啦 医疗许可",
        "牙列不齐, 咬合不适",
        "王莉",
        time(10, 5),
    ),
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
    "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金"
    "石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国"
    "志红晓梅玉兰海燕雪婷思雨子涵浩然宇轩欣怡梓萱一诺佳怡俊杰"
)

# visit item -> (title, complaints, examinations, diagnoses, plans, treatments, advice)
VISITS = {
    "检查": (
        "口腔检查",
        ["定期口腔检查", "刷牙时牙龈出血", "左下后牙咀嚼痛"],
        ["全口牙列完整，牙石(+)", "36咬合面深龋，探诊(+)", "牙龈红肿，BOP(+)"],
        ["慢性牙龈炎", "36深龋", "牙列缺损"],
        ["全口洁治，定期复查", "36充填治疗"],
        ["口腔健康宣教", "拍摄全景片"],
        ["早晚刷牙，使用牙线", "半年复查"],
    ),
    "洁牙": (
        "洁治",
        ["牙齿有黑色色素", "口腔异味，牙龈出血"],
        ["全口牙石(++)，色素沉着", "龈缘红肿，探诊出血"],
        ["慢性牙周炎（轻度）", "牙龈炎"],
        ["龈上洁治+抛光", "牙周基础治疗"],
        ["超声龈上洁治，喷砂抛光", "全口洁治，3%双氧水冲洗"],
        ["一周内避免深色食物", "使用软毛牙刷，巴氏刷牙法"],
    ),
    "补牙": (
        "充填治疗",
        ["右上后牙食物嵌塞", "冷热刺激酸痛", "前牙缺损"],
        ["16近中邻面龋，探(+)，冷(+)", "46咬合面中龋", "11切角缺损"],
        ["16中龋", "46中龋", "11牙体缺损"],
        ["树脂充填", "嵌体修复"],
        ["去腐，垫底，树脂分层充填，调合抛光", "局麻去腐，玻璃离子垫底，树脂充填"],
        ["2小时后进食", "如有不适及时复诊"],
    ),
    "根管治疗": (
        "根管治疗",
        ["右下后牙夜间自发痛", "牙齿咬合痛三天"],
        ["46叩(+)，冷测无反应，X线示根尖低密度影", "26深龋露髓，叩(±)"],
        ["46慢性根尖周炎", "26急性牙髓炎"],
        ["46根管治疗后全冠修复", "26根管治疗"],
        ["局麻下开髓拔髓，根管预备，氢氧化钙封药", "根管充填，X线示恰填"],
        ["勿用患侧咀嚼硬物", "一周后复诊"],
    ),
    "拔牙": (
        "拔牙",
        ["智齿反复肿痛", "残根要求拔除"],
        ["48近中阻生，冠周红肿", "25残根，松动Ⅱ度"],
        ["48阻生齿伴冠周炎", "25残根"],
        ["拔除48", "拔除25后种植修复"],
        ["局麻下拔除48，缝合2针", "局麻下拔除25，搔刮牙槽窝"],
        ["咬棉球40分钟，24小时内勿漱口", "一周后拆线"],
    ),
    "正畸": (
        "正畸复诊",
        ["牙列不齐，要求矫正", "咬合不适"],
        ["上下牙列拥挤，前牙深覆合", "安氏Ⅱ类错颌"],
        ["牙列拥挤", "安氏Ⅱ类错颌"],
        ["隐形矫治", "固定矫治"],
        ["口扫取模，制定矫治方案", "更换弓丝，加力"],
        ["每天佩戴矫治器22小时", "一月后复诊"],
    ),
    "种植": (
        "种植修复",
        ["下颌后牙缺失要求修复", "种植术后复查"],
        ["36缺失，牙槽骨宽度良好", "种植体稳定，牙龈愈合良好"],
        ["牙列缺损", "种植术后"],
        ["36种植修复", "上部结构修复"],
        ["局麻下植入种植体一枚", "取模，比色"],
        ["术后冷敷，按时服药", "保持口腔卫生"],
    ),
    "美学修复": (
        "美学修复",
        ["前牙变色影响美观", "牙缝大要求改善"],
        ["11、21氟斑牙", "11、21间隙约2mm"],
        ["氟斑牙", "前牙间隙"],
        ["全瓷贴面修复", "树脂美学修复"],
        ["牙体预备，取模，临时贴面", "比色，树脂关闭间隙"],
        ["避免咬硬物", "两周后试戴"],
    ),
    "儿牙": (
        "儿童牙科",
        ["乳牙龋坏", "窝沟封闭"],
        ["74、84深龋", "六龄牙窝沟深"],
        ["乳牙龋病", "窝沟易龋"],
        ["乳牙充填", "窝沟封闭"],
        ["去腐，玻璃离子充填", "36、46窝沟封闭"],
        ["少吃甜食", "三个月复查"],
    ),
}


def pinyin_key(name: str) -> str:
    """Full pinyin and initials, e.g. 刘作榛 -> "liuzuozhen lzz", for header search."""
    full = "".join(lazy_pinyin(name))
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))
    return f"{full} {initials}".lower()


def _visit_time(day: date, at: time, now: datetime, rng: random.Random) -> datetime:
    """``at`` on ``day`` in the clinic's zone, moved back before ``now`` if later
    (but not before the day's start: a record of today stays on today)."""
    moment = datetime.combine(day, at, tzinfo=now.tzinfo)
    if moment < now:
        return moment
    start_of_day = datetime.combine(day, time.min, tzinfo=now.tzinfo)
    return max(now - timedelta(minutes=rng.randint(1, 90)), start_of_day)


def _record(rng: random.Random, visit_item: str, **fields) -> MedicalRecord:
    title, complaints, exams, diagnoses, plans, treatments, advice = VISITS[visit_item]
    return MedicalRecord(
        visit_item=visit_item,
        title=fields.pop("title", None) or title,
        chief_complaint=fields.pop("chief_complaint", None) or rng.choice(complaints),
        present_illness="患者自述症状持续，未经治疗，无明显全身不适。",
        past_history=rng.choice(
            ["否认系统性疾病史，否认药物过敏史。", "高血压病史，规律服药。"]
        ),
        examination=rng.choice(exams),
        diagnosis=rng.choice(diagnoses),
        treatment_plan=rng.choice(plans),
        treatment=rng.choice(treatments),
        advice=rng.choice(advice),
        **fields,
    )


def load_demo_data(*, session: Session, now: datetime, records: int = 300) -> bool:
    """Fill an empty database with the demo clinic. Returns False if it held users.

    Args:
        session: Database session; this function commits.
        now: The current time in the clinic's time zone; records span the 30 days
            before it.
        records: How many generated records besides the tutorial's.
    """
    today = now.date()
    if session.exec(select(func.count()).select_from(User)).one():
        return False
    rng = random.Random(SEED)
    clinic = Clinic(name=CLINIC_NAME, code="8112")
    session.add(clinic)
    session.flush()
    users = {}
    for account in DEMO_ACCOUNTS:
        user = User(
            login_id=account.login_id,
            display_name=account.display_name,
            role=account.role,
            clinic_id=clinic.id,
            password_hash=hash_password(account.password),
        )
        session.add(user)
        users[account.display_name] = user
    session.flush()
    doctors = [u for u in users.values() if u.role == Role.DOCTOR]

    for (
        name,
        sex,
        born,
        phone,
        record_no,
        item,
        title,
        complaint,
        doctor,
        at,
    ) in TUTORIAL_RECORDS:
        patient = Patient(
            record_no=record_no,
            name=name,
            name_pinyin=pinyin_key(name),
            sex=sex,
            birth_date=born,
            phone=phone,
            clinic_id=clinic.id,
        )
        session.add(patient)
        session.flush()
        session.add(
            _record(
                rng,
                item,
                patient_id=patient.id,
                doctor_id=users[doctor].id,
                clinic_id=clinic.id,
                title=title,
                chief_complaint=complaint,
                created_at=_visit_time(today, at, now, rng),
            )
        )

    patients = []
    for index in range(120):
        name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2))))
        patient = Patient(
            record_no=f"P1201112{20200000 + index * 37:08d}",
            name=name,
            name_pinyin=pinyin_key(name),
            sex=rng.choice(list(Sex)),
            birth_date=date(
                rng.randint(1950, 2018), rng.randint(1, 12), rng.randint(1, 28)
            ),
            phone=f"13{rng.randint(0, 9)}{rng.randint(10_000_000, 99_999_999)}",
            clinic_id=clinic.id,
        )
        session.add(patient)
        patients.append(patient)
    session.flush()

    for offset in range(-3, 4):  # 今日预约: a few bookings a day around today
        for doctor in doctors:
            for _ in range(rng.randint(2, 5)):
                day = today + timedelta(days=offset)
                at = datetime.combine(
                    day,
                    time(rng.randint(9, 18), rng.choice((0, 30))),
                    tzinfo=now.tzinfo,
                )
                status = (
                    "booked"
                    if at > now
                    else rng.choice(("arrived", "arrived", "missed"))
                )
                session.add(
                    Appointment(
                        patient_id=rng.choice(patients).id,
                        doctor_id=doctor.id,
                        clinic_id=clinic.id,
                        scheduled_at=at,
                        visit_item=rng.choice(list(VISITS)),
                        status=status,
                    )
                )

    for _ in range(records):
        day = today - timedelta(days=rng.randint(0, 29))
        at = time(rng.randint(9, 19), rng.randint(0, 59))
        session.add(
            _record(
                rng,
                rng.choice(list(VISITS)),
                patient_id=rng.choice(patients).id,
                doctor_id=rng.choice(doctors).id,
                clinic_id=clinic.id,
                created_at=_visit_time(day, at, now, rng),
            )
        )
    session.commit()
    return True
